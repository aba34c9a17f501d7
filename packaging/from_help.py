#!/usr/bin/env python3
"""The man page and the bash completion of kadnode, made from what `kadnode --help` prints, so
that neither can fall out of step with the options (repl/options.cpp is their one source).

    from_help.py man KADNODE TEMPLATE OUT         kadnode(1): TEMPLATE with @OPTIONS@ and
                                                  @VERSION@ filled in
    from_help.py completion KADNODE TEMPLATE OUT  bash completion: @OPTIONS@, @VALUED@ filled in
    from_help.py options KADNODE                  the long options, one a line (for the tests)

The build runs the first two (packaging/CMakeLists.txt); tests/package checks the results against
--help again.
"""
import re
import subprocess
import sys

# An option line: two spaces, the option (with its value name and default), two or more spaces,
# the start of its description. Boost.Program_options indents the rest of the description.
OPTION_LINE = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")
GROUP_LINE = re.compile(r"^(\S.*):$")


def parse_help(kadnode):
    """[(group, [(names, value, default, description)])] in the order --help lists them."""
    text = subprocess.run([kadnode, "--help"], check=True, capture_output=True, text=True).stdout
    groups, current, option = [], None, None
    for line in text.splitlines():
        line = line.rstrip()
        m = GROUP_LINE.match(line)
        if m and not line.startswith("usage"):
            current = (m.group(1), [])
            groups.append(current)
            option = None
            continue
        if current is None:
            continue
        if not line:
            option = None
            continue
        m = OPTION_LINE.match(line)
        if m:
            option = [m.group(1), m.group(2) or ""]
            current[1].append(option)
        elif option is not None and line.startswith("   "):
            option[1] = (option[1] + " " + line.strip()).strip()
    result = []
    for title, options in groups:
        parsed = []
        for spec, desc in options:
            parsed.append(parse_spec(spec) + (desc,))
        result.append((title, parsed))
    return result


def parse_spec(spec):
    """'--bind ADDR:PORT (=0.0.0.0:0)' -> (['--bind'], 'ADDR:PORT', '0.0.0.0:0');
    '-h [ --help ]' -> (['-h', '--help'], None, None)."""
    default = None
    m = re.search(r"\s\(=(.*)\)$", spec)
    if m:
        default = m.group(1)
        spec = spec[: m.start()]
    m = re.fullmatch(r"-(\w) \[ --([\w-]+) \](?: (\S+))?", spec)
    if m:
        return ["-" + m.group(1), "--" + m.group(2)], m.group(3), default
    m = re.fullmatch(r"(--[\w-]+)(?: (\S+))?", spec)
    if not m:
        sys.exit(f"from_help.py: cannot read the option line {spec!r} of --help")
    value = m.group(2)
    if value == "arg":
        value = "N"  # Boost's name for a value given no name: every such option is a number
    return [m.group(1)], value, default


def long_options(groups):
    return [n for _, options in groups for names, _, _, _ in options for n in names
            if n.startswith("--")]


def roff(text):
    """Plain text as roff: backslashes escaped, no line starting with a control character."""
    text = text.replace("\\", "\\e")
    # A minus in an option or a number is a minus, not a hyphen.
    text = re.sub(r"(?<![\w])-(?=[\w-])", r"\\-", text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def man_options(groups):
    out = []
    for title, options in groups:
        out.append(f'.SS "{roff(title)}"')
        for names, value, default, desc in options:
            head = ", ".join(f"\\fB{roff(n)}\\fR" for n in names)
            if value:
                head += f" \\fI{roff(value)}\\fR"
            out.append(".TP")
            out.append(head)
            body = desc[0].upper() + desc[1:] if desc else ""
            if body and not body.endswith("."):
                body += "."
            body = roff(body)
            if default is not None:
                body += f" Default: \\fB{roff(default)}\\fR."
            out.append(body)
    return "\n".join(out)


# Values the completion offers, by the option's value name or by the option itself.
CHOICES = {
    "--log-level": "trace debug info warn error off",
    "--bep42": "any prefer require",
    "--fsync": "always never 250ms 1s 5s",
}


def completion_cases(groups):
    """The case arms that complete an option's value, options with the same action together."""
    by_action = {}
    for _, options in groups:
        for names, value, _, _ in options:
            if not value:
                continue
            name = [n for n in names if n.startswith("--")][0]
            if name in CHOICES:
                action = f'COMPREPLY=($(compgen -W "{CHOICES[name]}" -- "$cur"))'
            elif value in ("FILE", "PATH"):
                action = 'compopt -o filenames; COMPREPLY=($(compgen -f -- "$cur"))'
            elif value == "DIR":
                action = 'compopt -o filenames; COMPREPLY=($(compgen -d -- "$cur"))'
            elif name == "--discovery-interface":
                action = 'COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))'
            else:
                action = "COMPREPLY=()"  # a number, an address, an id: nothing to offer
            by_action.setdefault(action, []).append(name)
    return "\n".join(f"        {'|'.join(names)})\n            {action}\n            return\n"
                     "            ;;" for action, names in by_action.items())


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    what, kadnode = sys.argv[1], sys.argv[2]
    groups = parse_help(kadnode)
    if what == "options":
        print("\n".join(sorted(long_options(groups))))
        return
    template_path, out_path = sys.argv[3], sys.argv[4]
    with open(template_path, encoding="utf-8") as f:
        template = f.read()
    if what == "man":
        version = subprocess.run([kadnode, "--version"], check=True, capture_output=True,
                                 text=True).stdout.split()[-1]
        text = template.replace("@OPTIONS@", man_options(groups)).replace("@VERSION@", version)
    elif what == "completion":
        text = template.replace("@OPTIONS@", " ".join(long_options(groups)))
        text = text.replace("@VALUED@", completion_cases(groups))
    else:
        sys.exit(__doc__)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The Debian package (tools/package): what it holds, lintian, the man page and the bash
completion against --help, the configuration file, and the systemd unit (systemd-analyze verify,
and security --offline against OpenDHT's dhtnode.service, taken from Debian's dhtnode package).
systemd need not run: nothing here installs the package or starts a unit. The node the unit would
run is run here as the unit runs it (on 127.0.0.1, without discovery), under strace when it can
be, to check that the unit's system-call filter allows every call it makes.

Run: test_package.py BUILD_DIR SOURCE_DIR [unittest args].
"""

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 2 else None
SOURCE = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None
KADNODE = os.path.join(BUILD or "", "bin", "kadnode")

FILES = [
    "./usr/bin/kadnode",
    "./usr/bin/kadnode-cli",
    "./usr/share/man/man1/kadnode.1.gz",
    "./usr/share/man/man1/kadnode-cli.1.gz",
    "./usr/share/bash-completion/completions/kadnode",
    "./etc/kadnode/kadnode.conf",
    "./lib/systemd/system/kadnode.service",
    "./usr/share/doc/kadnode/copyright",
    "./usr/share/doc/kadnode/changelog.gz",
]


def run(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


def help_options():
    """The options --help lists (the option column only), in order, with repeats."""
    out = run(KADNODE, "--help").stdout
    return sorted(m.group(2) for m in re.finditer(r"^  (-\w \[ )?(--[a-z0-9-]+)", out, re.M))


def exposure(unit):
    out = run("systemd-analyze", "security", "--offline=true", "--no-pager", unit).stdout
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert m, out
    return float(m.group(1))


def syscall_groups():
    """systemd's system-call groups: {"@name": [members]} (a member may be a group)."""
    groups, current = {}, None
    for line in run("systemd-analyze", "syscall-filter", "--no-pager").stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and current is not None and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(groups, name, seen=None):
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for entry in groups.get(name, []):
        out |= expand(groups, entry, seen) if entry.startswith("@") else {entry}
    return out


class PackageTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kad-package-")
        start = time.monotonic()
        p = run(os.path.join(SOURCE, "tools", "package"), BUILD, check=False)
        if p.returncode != 0:
            raise AssertionError("tools/package failed:\n" + p.stdout + p.stderr)
        cls.deb = p.stdout.strip().splitlines()[-1]
        print(f"tools/package: {cls.deb} in {time.monotonic() - start:.1f} s", file=sys.stderr)
        cls.root = os.path.join(cls.tmp, "root")
        run("dpkg-deb", "-x", cls.deb, cls.root)
        cls.control = os.path.join(cls.tmp, "control")
        run("dpkg-deb", "-e", cls.deb, cls.control)
        cls.unit = os.path.join(cls.root, "lib/systemd/system/kadnode.service")
        cls.man = os.path.join(cls.root, "usr/share/man/man1/kadnode.1.gz")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- What the package holds -------------------------------------------------------------

    def test_the_package_is_named_kadnode_at_the_programs_version(self):
        version = run(KADNODE, "--version").stdout.split()[1]
        arch = run("dpkg", "--print-architecture").stdout.strip()
        self.assertEqual(os.path.basename(self.deb), f"kadnode_{version}_{arch}.deb")
        fields = run("dpkg-deb", "-f", self.deb, "Package", "Version", "Architecture",
                     "Depends").stdout
        self.assertIn("Package: kadnode\n", fields)
        self.assertIn(f"Version: {version}\n", fields)
        # dpkg-shlibdeps found the shared libraries the binary needs.
        for lib in ("libc6", "libssl3", "libreadline8", "libboost-program-options"):
            self.assertIn(lib, fields)
        self.assertEqual(run(os.path.join(self.root, "usr/bin/kadnode"), "--version").stdout,
                         f"kadnode {version}\n")
        self.assertEqual(run(os.path.join(self.root, "usr/bin/kadnode-cli"), "--version").stdout,
                         f"kadnode-cli {version}\n")

    def test_the_package_holds_the_binary_man_page_completion_conffile_and_unit(self):
        listing = run("dpkg-deb", "-c", self.deb).stdout
        paths = [line.split()[-1] for line in listing.splitlines()]
        for f in FILES:
            self.assertIn(f, paths)
        # Only the program: no headers, libraries, nor anything in /usr/local.
        for p in paths:
            self.assertFalse(p.startswith(("./usr/local", "./usr/include", "./usr/lib/")), p)
        for line in listing.splitlines():
            self.assertIn(" root/root ", line)
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/kadnode/kadnode.conf"])
        for script in ("postinst", "prerm", "postrm"):
            run("sh", "-n", os.path.join(self.control, script))

    def test_lintian_finds_no_error(self):
        p = run("lintian", "--fail-on", "error", self.deb, check=False)
        print("lintian:\n" + (p.stdout or "(nothing)"), file=sys.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout, r"(?m)^E: ")

    # ---- The man page and the completion, against --help -----------------------------------

    def test_man_renders_the_man_pages_without_a_warning(self):
        env = dict(os.environ, MANWIDTH="80", MAN_KEEP_STDERR="1", LC_ALL="C.UTF-8")
        cli_man = os.path.join(self.root, "usr/share/man/man1/kadnode-cli.1.gz")
        for man, title in [(self.man, "kadnode - a Kademlia DHT node"),
                           (cli_man, "kadnode-cli - run commands on a running kadnode")]:
            p = run("man", "-l", man, env=env)
            self.assertEqual(p.stderr, "")
            self.assertIn(title, p.stdout)
            source = run("zcat", man).stdout
            p = subprocess.run(["groff", "-ww", "-z", "-man"], input=source, capture_output=True,
                               text=True, check=True)
            self.assertEqual(p.stderr, "")

    def test_the_man_page_names_the_options_help_names(self):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        text = run("man", "-l", self.man, env=env).stdout
        section = text[text.index("\nOPTIONS\n"):text.index("\nENVIRONMENT\n")]
        named = sorted(m.group(2)
                       for m in re.finditer(r"^ {7}(-\w, )?(--[a-z0-9-]+)", section, re.M))
        self.assertEqual(named, help_options())
        # And what they default to.
        self.assertIn("Default: 0.0.0.0:0.", " ".join(section.split()))

    def complete(self, *words):
        """What the installed completion offers for the last of words."""
        script = os.path.join(self.root, "usr/share/bash-completion/completions/kadnode")
        line = " ".join(shlex.quote(w) for w in words)
        p = run("bash", "-c", f'source {shlex.quote(script)}; COMP_WORDS=(kadnode {line}); '
                f'COMP_CWORD={len(words)}; _kadnode; printf "%s\\n" "${{COMPREPLY[@]}}"')
        return sorted(w for w in p.stdout.split("\n") if w)

    def test_the_completion_offers_the_options_help_names(self):
        self.assertEqual(self.complete("--"), sorted(set(help_options())))
        self.assertEqual(self.complete("--no-d"), ["--no-discovery"])

    def test_the_values_the_completion_offers_are_accepted(self):
        for option in ("--log-level", "--bep42", "--fsync"):
            values = self.complete(option, "")
            self.assertGreater(len(values), 1, option)
            for v in values:
                p = run(KADNODE, "--no-discovery", "--bind", "127.0.0.1:0", option, v,
                        "--exec", "id", check=False, timeout=30)
                self.assertEqual(p.returncode, 0, f"{option} {v}: {p.stderr}")
        self.assertIn("debug", self.complete("--log-level", "d"))

    # ---- The configuration file and the unit ----------------------------------------------

    def test_the_unit_is_hardened_as_asked(self):
        with open(self.unit) as f:
            lines = [line.strip() for line in f if "=" in line and not line.startswith("#")]
        settings = {}
        for line in lines:
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
        exec_start = shlex.split(settings["ExecStart"][0])
        self.assertEqual(exec_start[0], "/usr/bin/kadnode")
        self.assertIn("--no-repl", exec_start)
        self.assertEqual(exec_start[exec_start.index("--config") + 1],
                         "/etc/kadnode/kadnode.conf")
        self.assertEqual(exec_start[exec_start.index("--state-dir") + 1], "/var/lib/kadnode")
        for k, v in [("DynamicUser", "yes"), ("StateDirectory", "kadnode"),
                     ("RuntimeDirectory", "kadnode"), ("CapabilityBoundingSet", ""),
                     ("AmbientCapabilities", ""), ("NoNewPrivileges", "yes"),
                     ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                     ("PrivateDevices", "yes"), ("PrivateTmp", "yes"),
                     ("SystemCallArchitectures", "native"),
                     ("SystemCallFilter", "@system-service")]:
            self.assertIn(v, settings.get(k, []), k)

    def test_systemd_analyze_verify_is_clean(self):
        # A root of its own: the package's files, the host's units (targets the unit names), and
        # MANPATH for the Documentation= check.
        root = os.path.join(self.tmp, "verify")
        shutil.copytree(self.root, root)
        run("cp", "-an", "/lib/systemd/system/.", os.path.join(root, "lib/systemd/system/"))
        env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"), LC_ALL="C.UTF-8")
        p = run("systemd-analyze", "verify", f"--root={root}",
                os.path.join(root, "lib/systemd/system/kadnode.service"), check=False, env=env)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def dhtnode_unit(self):
        """dhtnode.service from Debian's dhtnode package (downloaded, not installed), kept in the
        build tree after the first time."""
        cached = os.path.join(BUILD, "package", "dhtnode.service")
        if not os.path.exists(cached):
            d = os.path.join(self.tmp, "dhtnode")
            os.makedirs(d)
            p = run("apt-get", "download", "-q", "dhtnode", cwd=d, check=False)
            if p.returncode != 0 and os.geteuid() == 0:  # the package lists may be stale
                run("apt-get", "update", "-q", check=False)
                p = run("apt-get", "download", "-q", "dhtnode", cwd=d, check=False)
            debs = glob.glob(os.path.join(d, "dhtnode_*.deb"))
            if not debs:
                self.fail("apt-get download dhtnode failed (apt-get update first?):\n" + p.stderr)
            run("dpkg-deb", "-x", debs[0], os.path.join(d, "x"))
            shutil.copy(os.path.join(d, "x/lib/systemd/system/dhtnode.service"), cached)
        return cached

    def test_the_unit_is_less_exposed_than_dhtnodes(self):
        ours, theirs = exposure(self.unit), exposure(self.dhtnode_unit())
        print(f"systemd-analyze security: kadnode.service {ours}, dhtnode.service {theirs}",
              file=sys.stderr)
        self.assertLess(ours, theirs)

    def exec_start(self, config):
        """The unit's ExecStart with the built binary, CONFIG and a state directory here."""
        with open(self.unit) as f:
            words = shlex.split(re.search(r"^ExecStart=(.*)$", f.read(), re.M).group(1))
        self.state = tempfile.mkdtemp(dir=self.tmp, prefix="state-")
        subst = {"/usr/bin/kadnode": KADNODE, "/etc/kadnode/kadnode.conf": config,
                 "/var/lib/kadnode": self.state}
        return [subst.get(w, w) for w in words]

    def allowed_calls(self):
        """The system calls the unit's SystemCallFilter= lines let through: the first list allows,
        a list starting with ~ takes away."""
        groups = syscall_groups()
        with open(self.unit) as f:
            filters = re.findall(r"^SystemCallFilter=(.*)$", f.read(), re.M)
        allowed = None
        for line in filters:
            deny = line.startswith("~")
            names = set()
            for entry in line.lstrip("~").split():
                names |= expand(groups, entry) if entry.startswith("@") else {entry}
            if deny:
                allowed -= names
            else:
                allowed = names if allowed is None else allowed | names
        self.assertGreater(len(allowed), 100)
        return allowed

    def start(self, args, trace, netns=False):
        """Starts the node, under strace (writing TRACE) when strace can run here, in a network
        namespace of its own with netns. Returns the process and the pid to signal."""
        traced = shutil.which("strace") and run("strace", "-o", "/dev/null", "true",
                                                check=False).returncode == 0
        if traced:
            args = ["strace", "-f", "-qq", "-o", trace] + args
        if netns:
            args = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"'] + args
        node = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pid = node.pid
        if traced:  # the node is strace's child (unshare and sh exec it, keeping the pid)
            deadline = time.monotonic() + 10
            pid = None
            while pid is None and time.monotonic() < deadline:
                with open(f"/proc/{node.pid}/task/{node.pid}/children") as f:
                    for child in f.read().split():
                        try:
                            with open(f"/proc/{child}/comm") as c:
                                if c.read().strip() == "kadnode":
                                    pid = int(child)
                        except FileNotFoundError:
                            pass
                time.sleep(0.01)
            if pid is None:
                node.kill()
                node.communicate()
                self.fail("kadnode did not start under strace")
        return node, pid, traced

    def check_calls(self, trace):
        with open(trace) as f:
            calls = {m.group(1) for m in re.finditer(r"^\d+\s+([a-z_0-9]+)\(", f.read(), re.M)}
        self.assertIn("sendto", calls)
        self.assertEqual(calls - self.allowed_calls(), set(),
                         "system calls the unit's filter refuses")

    def test_the_node_runs_as_the_unit_runs_it_with_the_packaged_config(self):
        """ExecStart with the built binary, the packaged conffile and a state directory here,
        plus --bind 127.0.0.1:0 and --no-discovery (the command line wins over the file): it
        serves, takes a put from a second node, answers the packaged kadnode-cli on its control
        socket, stops cleanly at SIGTERM and keeps its state. Under strace, every system call it
        makes must pass the unit's filter."""
        args = self.exec_start(os.path.join(self.root, "etc/kadnode/kadnode.conf")) + [
            "--bind", "127.0.0.1:0", "--no-discovery", "--json"]
        trace = os.path.join(self.tmp, "strace.log")
        node, pid, traced = self.start(args, trace)
        try:
            ready = node.stdout.readline()
            m = re.search(r'"addr":"(127\.0\.0\.1:\d+)"', ready)
            self.assertTrue(m, ready)
            p = run(KADNODE, "--no-discovery", "--bind", "127.0.0.1:0", "--bootstrap-addr",
                    m.group(1), "--exec", "put greeting hello", check=False, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("on 1 node", p.stdout)
            # Without RUNTIME_DIRECTORY (systemd's), the control socket is in the state
            # directory.
            self.assertIn('"control":"%s/control"' % self.state, ready)
            p = run(os.path.join(self.root, "usr/bin/kadnode-cli"), "--control",
                    os.path.join(self.state, "control"), "get", "greeting", check=False,
                    timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(p.stdout.startswith('"hello" (seq 0) from this node\'s own store'),
                            p.stdout)
        finally:
            os.kill(pid, signal.SIGTERM)
            _, err = node.communicate(timeout=30)
        self.assertEqual(node.returncode, 0, err)
        self.assertTrue(os.path.exists(os.path.join(self.state, "state")), os.listdir(self.state))
        self.assertFalse(os.path.exists(os.path.join(self.state, "control")))  # removed at stop
        if not traced:
            self.skipTest("strace cannot run here: the system-call filter is not checked")
        self.check_calls(trace)

    def test_with_lan_discovery_the_node_stays_within_the_filter(self):
        """The packaged config with discovery on (as an admin may set it), in a network
        namespace of its own (so no multicast leaves it): netlink for the interfaces, multicast
        sockets, announcements sent and heard, all within the unit's filter."""
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("strace"):
            self.skipTest("needs root, unshare and strace")
        config = os.path.join(self.tmp, "discovery.conf")
        with open(os.path.join(self.root, "etc/kadnode/kadnode.conf")) as f:
            text = f.read()
        self.assertIn("\nno-discovery = true\n", text)
        with open(config, "w") as f:
            f.write(text.replace("\nno-discovery = true\n", "\n"))
        args = self.exec_start(config) + ["--bind", "127.0.0.1:0", "--json",
                                          "--discovery-interval", "0.2"]
        trace = os.path.join(self.tmp, "strace-discovery.log")
        node, pid, traced = self.start(args, trace, netns=True)
        try:
            self.assertIn('"event":"ready"', node.stdout.readline())
            time.sleep(1)
        finally:
            os.kill(pid, signal.SIGTERM)
            _, err = node.communicate(timeout=30)
        self.assertEqual(node.returncode, 0, err)
        self.assertNotIn("LAN discovery is off", err)
        if not traced:
            self.skipTest("strace cannot run here: the system-call filter is not checked")
        with open(trace) as f:
            self.assertIn("AF_NETLINK", f.read())
        self.check_calls(trace)


if __name__ == "__main__":
    unittest.main(verbosity=2)

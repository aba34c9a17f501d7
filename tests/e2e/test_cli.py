#!/usr/bin/python3
"""End-to-end tests of the control socket and kadnode-cli: real kadnode processes on 127.0.0.1,
driven through their control sockets by kadnode-cli (one command, commands on stdin, the
terminal in tmux) and by a raw client speaking the wire format (docs/ARCHITECTURE.md).

Every process is started through the Harness of test_kadnode.py, which kills whatever is left at
the end of each test; every wait is bounded.
Run: test_cli.py PATH/TO/kadnode PATH/TO/kadnode-cli [unittest args].
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kadnode as base  # noqa: E402  (Proc, Harness)
from capture import bdecode  # noqa: E402

KADNODE = None
CLI = None


def other_user_prefix():
    """A command prefix that runs a program as nobody, or None when this cannot be done."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


class Raw:
    """A client speaking the wire format itself: JSON lines over the Unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, line):
        self.send_raw(json.dumps({"line": line}).encode() + b"\n")

    def frame(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:  # closed by the node with our data unread
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        """The next final reply (skipping partial lines)."""
        while True:
            f = self.frame()
            if f is None or f["type"] in ("reply", "error"):
                return f

    def close(self):
        self.s.close()


class SlowNode:
    """A DHT node on 127.0.0.1 that answers every query, `delay` seconds late, with its id and
    no nodes."""

    def __init__(self, delay):
        self.delay = delay
        self.id = os.urandom(20)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.s.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed:
            try:
                data, peer = self.s.recvfrom(65536)
            except OSError:
                continue
            m = bdecode(data)  # None if it is not bencode
            if not isinstance(m, dict) or m.get(b"y") != b"q":
                continue
            reply = base.bencode({"t": m.get(b"t", b""), "y": "r",
                                  "r": {"id": self.id, "nodes": b""}})
            threading.Timer(self.delay, self._send, args=(reply, peer)).start()

    def _send(self, reply, peer):
        if not self.closed:
            try:
                self.s.sendto(reply, peer)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.s.close()


class CliHarness(base.Harness):
    def setUp(self):
        super().setUp()
        base.KADNODE = KADNODE
        self.control = os.path.join(self.tmp, "run", "control")

    def start_controlled(self, *extra, control=None):
        """A node serving a control socket (with --json and commands on its stdin too)."""
        p, ready = self.start_json_node("--control", control or self.control, *extra)
        self.assertEqual(ready["control"], control or self.control)
        return p, ready

    def cli(self, *args, input=None, timeout=30, control=None, prefix=(), env=None):
        """Runs kadnode-cli to its end; returns the CompletedProcess (bytes)."""
        command = list(prefix) + [CLI, "--control", control or self.control] + list(args)
        return subprocess.run(command, input=input, capture_output=True, timeout=timeout,
                              env=env or self.env)

    def cli_json(self, *args, **kw):
        p = self.cli("--json", *args, **kw)
        lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
        return p.returncode, lines

    def contacts(self, node):
        """The ids in a node's routing table (through its own stdin)."""
        rt = node.cmd("rt")
        return sorted(c["id"] for b in rt["buckets"] for c in b["contacts"])


class OneShotTests(CliHarness):
    def test_one_command_its_output_and_exit_status(self):
        a, ra = self.start_controlled()
        b, rb = self.start_json_node("--bootstrap-addr", ra["addr"])
        self.assertTrue(b.wait_for(lambda o: o.get("event") == "joined")["ok"])

        p = self.cli("put", "greeting", "hello world")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b'stored "greeting" = "hello world" (seq 0) on 1 node', p.stdout)
        p = self.cli("get", "greeting")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b'"hello world" (seq 0)'), p.stdout)
        # The value really is in the network: the other node finds it.
        self.assertEqual(b.cmd("get greeting")["value"], "hello world")

        # One argument is the whole line; several are words, quoted as the shell gave them.
        self.assertEqual(self.cli("put k1 two words").returncode, 0)
        self.assertEqual(self.cli("put", "k2", "two  spaces").returncode, 0)
        self.assertEqual(self.cli("put", "k3", "it's").returncode, 0)
        for key, value in [("k1", "two words"), ("k2", "two  spaces"), ("k3", "it's")]:
            rc, lines = self.cli_json("get", key)
            self.assertEqual((rc, lines[-1]["value"]), (0, value))

        # --json: kadnode's JSON, the same fields.
        rc, lines = self.cli_json("get", "greeting")
        self.assertEqual(rc, 0)
        self.assertEqual(len(lines), 1)
        self.assertEqual((lines[0]["cmd"], lines[0]["ok"], lines[0]["value"], lines[0]["seq"]),
                         ("get", True, "hello world", 0))
        own = a.cmd("get greeting")
        self.assertEqual(set(own), set(lines[0]))

        # A command that fails: status 1, the error as kadnode prints it.
        p = self.cli("get", "missing")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"get: not found", p.stdout)
        rc, lines = self.cli_json("get", "missing")
        self.assertEqual((rc, lines[-1]["ok"], lines[-1]["code"]), (1, False, "not_found"))
        rc, lines = self.cli_json("nonsense")
        self.assertEqual((rc, lines[-1]["code"]), (1, "unknown_command"))
        rc, lines = self.cli_json("p", "not-an-address")
        self.assertEqual((rc, lines[-1]["code"]), (1, "bad_argument"))
        p = self.cli("put 'unterminated")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"unterminated", p.stdout)

        # quit leaves the client, not the node.
        p = self.cli("quit")
        self.assertEqual((p.returncode, p.stdout), (0, b"bye\n"))
        self.assertTrue(a.cmd("id")["ok"])

    def test_bytes_that_are_not_utf8_travel_unchanged(self):
        a, ra = self.start_controlled()
        key, value = b"bin\xff", b"v\xfe\x01w"
        p = self.cli(b"put", key, value)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The node stored those very bytes: the SHA-1 of the key is the target.
        item = a.cmd("ls")["items"][0]
        self.assertEqual(item["target"], hashlib.sha1(key).hexdigest())
        p = self.cli(b"get", key)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith(b'"v\xfe\\x01w" (seq 0)'), p.stdout)
        # With --json, as kadnode --json shows them: U+FFFD for what is not UTF-8.
        rc, lines = self.cli_json(b"get", key)
        self.assertEqual(lines[-1]["value"], "v\ufffd\u0001w")

    def test_usage_help_version_and_no_node(self):
        p = subprocess.run([CLI, "--bogus"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown option '--bogus'", p.stderr)
        p = subprocess.run([CLI, "--control"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--control PATH", p.stdout)
        version = subprocess.run([KADNODE, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.split()[1]
        p = subprocess.run([CLI, "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.stdout, f"kadnode-cli {version}\n")
        # No node: a clear error and status 3.
        p = self.cli("id")
        self.assertEqual(p.returncode, 3)
        self.assertIn(b"no control socket at " + self.control.encode(), p.stderr)
        # The default socket is the packaged service's; without it, say what to give.
        if not os.path.exists("/run/kadnode/control"):
            p = subprocess.run([CLI, "id"], capture_output=True, text=True, timeout=10,
                               env=self.env)
            self.assertEqual(p.returncode, 3)
            self.assertIn("/run/kadnode/control", p.stderr)
            self.assertIn("--control PATH", p.stderr)
        # KADNODE_CONTROL picks it, as --control does.
        self.start_controlled()
        p = subprocess.run([CLI, "id"], capture_output=True, timeout=10,
                           env=dict(self.env, KADNODE_CONTROL=self.control))
        self.assertEqual(p.returncode, 0, p.stderr)


    def test_a_stopped_node_is_reported_not_waited_for(self):
        node, _ = self.start_controlled()
        os.kill(node.p.pid, signal.SIGSTOP)  # the socket still accepts: the kernel queues us
        try:
            start = time.monotonic()
            p = self.cli("id", timeout=20)
            took = time.monotonic() - start
        finally:
            os.kill(node.p.pid, signal.SIGCONT)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b"did not answer within 5 s: it is stopped (SIGSTOP?) or too busy",
                      p.stderr)
        self.assertLess(took, 15)
        self.assertEqual(self.cli("id").returncode, 0)  # running again, it answers


class PipedTests(CliHarness):
    def test_commands_on_stdin_in_order(self):
        a, ra = self.start_controlled()
        script = b"put a 1\nget a\n\n# a comment\nput a 2\nget a\nid\n"
        p = self.cli("--json", input=script)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
        self.assertEqual([x["cmd"] for x in lines], ["put", "get", "put", "get", "id"])
        self.assertEqual([lines[1]["value"], lines[3]["value"]], ["1", "2"])
        self.assertEqual(lines[4]["id"], ra["id"])
        # One failure makes the status 1; the commands after it still run.
        p = self.cli(input=b"get a\nnonsense\nget a")  # the last line has no newline
        self.assertEqual(p.returncode, 1)
        out = p.stdout.decode().splitlines()
        self.assertEqual(len(out), 3, out)
        self.assertIn("unknown command", out[1])
        self.assertTrue(out[2].startswith('"2" (seq 1)'), out)
        # quit ends the input there.
        p = self.cli(input=b"id\nquit\nput never run\n")
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.decode().endswith("bye\n"))
        self.assertEqual(a.cmd("get never")["ok"], False)
        # Nothing on stdin: nothing to do.
        p = self.cli(input=b"")
        self.assertEqual((p.returncode, p.stdout), (0, b""))

    def test_several_clients_at_once_each_in_order(self):
        a, ra = self.start_controlled()
        results = {}

        def client(i):
            script = "".join(f"put c{i} {n}\nget c{i}\n" for n in range(20))
            p = self.cli("--json", input=script.encode(), timeout=60)
            results[i] = p

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        for i in range(6):
            p = results[i]
            self.assertEqual(p.returncode, 0, p.stderr)
            lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
            gets = [x["value"] for x in lines if x["cmd"] == "get"]
            self.assertEqual(gets, [str(n) for n in range(20)])  # each client's own order
        self.assertTrue(a.cmd("id")["ok"])


class StreamTests(CliHarness):
    def test_streamed_lines_arrive_as_they_happen(self):
        # A knows B, which answers at once, and a node that answers half a second late: the
        # lookup waits for the latter, and the trace of B's answer must reach the client before.
        a, ra = self.start_controlled()
        b, rb = self.start_json_node("--bootstrap-addr", ra["addr"])
        self.assertTrue(b.wait_for(lambda o: o.get("event") == "joined")["ok"])
        slow = SlowNode(0.5)
        self.addCleanup(slow.close)
        p = self.cli("bootstrap", slow.addr, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(slow.id.hex(), self.contacts(a))
        cmd = [CLI, "--control", self.control, "--json", "ln", "--trace", "0" * 40]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        arrivals = []
        for raw in p.stdout:
            arrivals.append((time.monotonic(), json.loads(raw)))
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
        self.assertEqual(p.wait(timeout=10), 0, err)
        partial = [t for t, o in arrivals if o.get("partial")]
        final = [t for t, o in arrivals if not o.get("partial")]
        self.assertEqual(len(final), 1)
        self.assertGreaterEqual(len(partial), 2)
        self.assertEqual(arrivals[-1][1]["cmd"], "ln")
        # The first steps were shown while the slow node was still being waited for.
        self.assertGreater(final[0] - partial[0], 0.3, arrivals)
        replies = [(t, o["trace"]["id"]) for t, o in arrivals
                   if o.get("partial") and o["trace"]["kind"] == "reply"]
        self.assertEqual(replies[0][1], rb["id"])
        self.assertGreater(final[0] - replies[0][0], 0.3, arrivals)

    def test_ls_limit_all_streams_one_line_per_item(self):
        a, ra = self.start_controlled()
        script = "".join(f"put key{n:03} value{n}\n" for n in range(150))
        self.assertEqual(self.cli(input=script.encode()).returncode, 0)
        rc, lines = self.cli_json("ls", "--limit", "all")
        self.assertEqual(rc, 0)
        items = [x["item"]["key"] for x in lines if x.get("partial") and "item" in x]
        self.assertEqual(items, [f"key{n:03}" for n in range(150)])
        self.assertEqual((lines[-1]["cmd"], lines[-1]["items_matched"]), ("ls", 150))
        p = self.cli("ls --limit all")
        self.assertEqual(len(p.stdout.decode().splitlines()), 151)  # a header, then the items


class RoutingTableTests(CliHarness):
    def test_client_use_adds_no_node_anywhere(self):
        """The point of the control socket: a script no longer starts a node of its own."""
        a, ra = self.start_controlled()
        others = []
        for _ in range(2):
            p, r = self.start_json_node("--bootstrap-addr", ra["addr"])
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
            others.append(p)
        time.sleep(0.5)
        before = {n: self.contacts(n) for n in [a] + others}
        self.assertEqual(len(before[a]), 2)
        for i in range(10):
            for args in (["put", f"k{i}", "v"], ["get", f"k{i}"], ["id"], ["stats"], ["rt"],
                         ["ln", ra["id"]]):
                p = self.cli(*args)
                self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))
        p = self.cli(input=b"".join(b"get k%d\n" % i for i in range(10)))
        self.assertEqual(p.returncode, 0)
        after = {n: self.contacts(n) for n in [a] + others}
        self.assertEqual(after, before)
        rc, lines = self.cli_json("id")
        self.assertEqual(lines[0]["contacts"], 2)


class TerminalTests(base.Tmux, CliHarness):
    """kadnode-cli in a pseudo-terminal (tmux), typed at as a person would."""

    SESSION = "cli"

    def test_the_console_history_completion_and_events(self):
        a, ra = self.start_controlled()
        b, rb = self.start_json_node("--bootstrap-addr", ra["addr"])
        self.assertTrue(b.wait_for(lambda o: o.get("event") == "joined")["ok"])
        r = self.tmux("new-session", "-d", "-s", "cli", "-x", "160", "-y", "50",
                      f"{CLI} --control {self.control}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_screen("type help for the commands")
        self.wait_screen("kad " + ra["id"][:8] + ">")
        self.type("put --ttl 60 greeting hello world")
        self.wait_screen('stored "greeting" = "hello world" (seq 0) on 1 node')
        self.type("get greeting")
        self.wait_screen('"hello world" (seq 0)')
        self.type("nonsense")
        self.wait_screen("nonsense: unknown command 'nonsense'")
        self.tmux("send-keys", "-t", "cli", "-l", "sta")
        self.tmux("send-keys", "-t", "cli", "Tab")
        self.tmux("send-keys", "-t", "cli", "Enter")
        self.wait_screen("packets_in")
        # An event of the node's while a line is half typed: printed above the prompt, the
        # typed line kept.
        self.tmux("send-keys", "-t", "cli", "-l", "get half-typed")
        time.sleep(0.2)
        s = b.cmd(f"s {ra['addr']} greeting newer")
        self.assertTrue(s["ok"], s)
        self.wait_screen('superseded: key "greeting" now has a newer version (seq 1)')
        deadline = time.monotonic() + 5  # the prompt is redrawn just after the line is printed
        while True:
            screen = self.screen()
            last = [line for line in screen.splitlines() if line.strip()][-1]
            if last.startswith("kad ") and last.endswith("get half-typed"):
                break
            self.assertLess(time.monotonic(), deadline, screen)
            time.sleep(0.05)
        self.tmux("send-keys", "-t", "cli", "C-u")
        self.type("quit")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.tmux("has-session", "-t", "cli").returncode == 0:
            time.sleep(0.05)
        self.assertNotEqual(self.tmux("has-session", "-t", "cli").returncode, 0, "still running")
        with open(os.path.join(self.tmp, ".kadnode_cli_history")) as f:
            history = f.read()
        self.assertIn("put --ttl 60 greeting hello world", history)
        # The node is still there, and served the same store.
        self.assertEqual(a.cmd("ls greeting")["items"][0]["value"], "newer")

    def test_ctrl_c_cancels_the_command_at_the_node_and_the_client_stays(self):
        a, ra = self.start_controlled("--timeout-ms", "20000")
        self.tmux("new-session", "-d", "-s", "cli", "-x", "160", "-y", "50",
                  f"{CLI} --control {self.control}; echo exit status $?; sleep 30")
        self.wait_screen("kad " + ra["id"][:8] + ">")
        self.tmux("send-keys", "-t", "cli", "-l", "get half-typed")
        self.wait_screen("get half-typed")
        self.tmux("send-keys", "-t", "cli", "C-c")
        self.wait_screen("get half-typed^C")
        self.type("p 127.0.0.1:9")  # would wait 20 s for a dead node
        time.sleep(0.3)
        t0 = time.monotonic()
        self.tmux("send-keys", "-t", "cli", "C-c")
        self.wait_screen("p: cancelled", timeout=3)
        self.assertLess(time.monotonic() - t0, 2)
        self.type("id")
        self.wait_screen("uptime")
        self.assertNotIn("exit status", self.screen())
        self.assertNotIn("get:", self.screen())  # the dropped line did not run
        self.type("quit")
        self.wait_screen("exit status 0")
        self.assertIsNone(a.p.poll())  # the node serves on

    def test_watch_at_the_console_runs_until_ctrl_c(self):
        a, ra = self.start_controlled()
        self.tmux("new-session", "-d", "-s", "cli", "-x", "160", "-y", "50",
                  f"{CLI} --control {self.control}; echo exit status $?; sleep 30")
        self.wait_screen("kad " + ra["id"][:8] + ">")
        self.type("watch news")
        self.wait_screen('watching "news" (Ctrl-C to stop)')
        self.assertTrue(a.cmd("put news hello")["ok"])  # alone: stored on the node itself
        self.wait_screen('"news" = "hello" (seq 0), stored here')
        self.tmux("send-keys", "-t", "cli", "C-c")
        self.wait_screen('stopped watching "news"')
        self.type("quit")
        self.wait_screen("exit status 0")

    def test_ctrl_d_leaves_and_a_stopping_node_is_reported(self):
        a, ra = self.start_controlled()
        self.tmux("new-session", "-d", "-s", "cli", "-x", "160", "-y", "50",
                  f"{CLI} --control {self.control}; echo exit status $?; sleep 30")
        self.wait_screen("kad " + ra["id"][:8] + ">")
        self.tmux("send-keys", "-t", "cli", "C-d")
        self.wait_screen("exit status 0")
        # Again, and this time the node stops under the client's prompt.
        self.tmux("respawn-pane", "-k", "-t", "cli",
                  f"{CLI} --control {self.control}; echo exit status $?; sleep 30")
        self.wait_screen("kad " + ra["id"][:8] + ">")
        a.close_stdin()  # a clean stop
        self.assertEqual(a.wait(timeout=15), 0)
        self.wait_screen("the node closed the connection")
        self.wait_screen("exit status 3")


class SocketTests(CliHarness):
    def test_owner_only_and_other_users_refused(self):
        a, ra = self.start_controlled()
        st = os.stat(self.control)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.dirname(self.control)).st_mode & 0o777, 0o700)
        prefix = other_user_prefix()
        if prefix is None:
            self.skipTest("needs root, and setpriv or runuser, to run a client as nobody")
        # The binary must be reachable by nobody: a copy in a directory anyone may read.
        public = os.path.join(self.tmp, "public")
        os.makedirs(public)
        cli = os.path.join(public, "kadnode-cli")
        shutil.copy(CLI, cli)
        for d in (self.tmp, public):
            os.chmod(d, 0o755)
        os.chmod(cli, 0o755)
        command = prefix + [cli, "--control", self.control, "id"]
        # The file system refuses first (the directory and the socket are the owner's only).
        p = subprocess.run(command, capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("permission denied", p.stderr)
        # And with the permissions opened up, the node itself refuses (SO_PEERCRED).
        os.chmod(os.path.dirname(self.control), 0o755)
        os.chmod(self.control, 0o666)
        p = subprocess.run(command, capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"permission denied: uid \d+ may not use this node's "
                                   r"control socket")
        self.assertEqual(p.stdout, "")
        # Root (the node's own user here) still may.
        self.assertEqual(self.cli("id").returncode, 0)

    def test_stale_socket_replaced_live_one_refused_removed_at_a_clean_stop(self):
        a, ra = self.start_controlled()
        # A second node on the same socket: refused at start, the first unharmed.
        b = self.start("--bind", "127.0.0.1:0", "--json", "--control", self.control)
        self.assertEqual(b.wait(timeout=10), 1)
        b.wait_stderr("another process is serving there")
        rc, lines = self.cli_json("id")
        self.assertEqual((rc, lines[0]["id"]), (0, ra["id"]))
        # A node killed leaves its socket behind: nothing answers there.
        a.kill()
        self.assertTrue(os.path.exists(self.control))
        p = self.cli("id")
        self.assertEqual(p.returncode, 3)
        self.assertIn(b"nothing answers at", p.stderr)
        # The next node replaces it.
        c, rc_ = self.start_controlled()
        rc, lines = self.cli_json("id")
        self.assertEqual((rc, lines[0]["id"]), (0, rc_["id"]))
        # A clean stop removes it.
        c.close_stdin()
        self.assertEqual(c.wait(timeout=15), 0)
        self.assertFalse(os.path.exists(self.control))
        # Something that is not a socket is never replaced.
        with open(self.control, "w") as f:
            f.write("mine")
        d = self.start("--bind", "127.0.0.1:0", "--json", "--control", self.control)
        self.assertEqual(d.wait(timeout=10), 1)
        with open(self.control) as f:
            self.assertEqual(f.read(), "mine")

    def test_where_the_socket_is_by_default_and_no_control(self):
        state = os.path.join(self.tmp, "state")
        p, ready = self.start_json_node("--state-dir", state)
        self.assertEqual(ready["control"], os.path.join(state, "control"))
        rc, lines = self.cli_json("id", control=ready["control"])
        self.assertEqual((rc, lines[0]["id"]), (0, ready["id"]))
        p.close_stdin()
        self.assertEqual(p.wait(timeout=15), 0)
        # --no-control: none.
        p, ready = self.start_json_node("--state-dir", state, "--no-control")
        self.assertNotIn("control", ready)
        self.assertFalse(os.path.exists(os.path.join(state, "control")))
        p.close_stdin()
        self.assertEqual(p.wait(timeout=15), 0)
        # Under systemd (RuntimeDirectory=): there, before the state directory.
        runtime = os.path.join(self.tmp, "runtime")
        os.makedirs(runtime, mode=0o700)
        env = dict(self.env, RUNTIME_DIRECTORY=runtime)
        p = self.start("--bind", "127.0.0.1:0", "--json", "--state-dir", state, env=env)
        ready = p.json()
        self.assertEqual(ready["control"], os.path.join(runtime, "control"))
        self.assertEqual(self.cli("id", control=ready["control"]).returncode, 0)
        p.close_stdin()
        self.assertEqual(p.wait(timeout=15), 0)
        # Neither: none.
        p, ready = self.start_json_node()
        self.assertNotIn("control", ready)
        # A state directory too deep for a socket in it: a warning, and none (given with
        # --control, the same path is an error).
        deep = os.path.join(self.tmp, *(["d" * 30] * 4))
        p, ready = self.start_json_node("--state-dir", deep)
        self.assertNotIn("control", ready)
        p.wait_stderr("too long for a Unix socket")
        q = self.start("--bind", "127.0.0.1:0", "--control", os.path.join(deep, "control"))
        self.assertEqual(q.wait(timeout=10), 1)
        # Both flags: a usage error.
        q = self.start("--control", self.control, "--no-control")
        self.assertEqual(q.wait(timeout=10), 2)

    def test_cancel_ends_the_running_command_not_those_queued_after_it(self):
        a, ra = self.start_controlled("--timeout-ms", "20000")
        r = Raw(self.control)
        self.assertEqual(r.frame()["type"], "hello")
        r.send("p 127.0.0.1:9")
        r.send("id")
        time.sleep(0.3)
        t0 = time.monotonic()
        r.send_raw(b'{"cancel":true}\n')
        first = r.reply()
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual((first["cmd"], first["code"]), ("p", "cancelled"), first)
        second = r.reply()
        self.assertEqual(second["cmd"], "id")
        self.assertTrue(second["ok"])
        # With nothing running, a cancel is nothing.
        r.send_raw(b'{"cancel":true}\n')
        r.send("id")
        self.assertTrue(r.reply()["ok"])
        r.close()

    def test_a_client_that_stops_writing_still_gets_every_answer(self):
        """As `echo '{"line":"id"}' | socat - UNIX-CONNECT:...` does: send, shut down the writing
        side, read the answers; the last line may lack its newline."""
        a, ra = self.start_controlled()
        r = Raw(self.control)
        self.assertEqual(r.frame()["type"], "hello")
        r.send_raw(b"".join(json.dumps({"line": f"help {c}"}).encode() + b"\n"
                            for c in ["get"] * 100) + b'{"line":"id"}')
        r.s.shutdown(socket.SHUT_WR)
        for _ in range(100):
            self.assertEqual(r.reply()["cmd"], "help")
        self.assertEqual(r.reply()["data"]["id"], ra["id"])
        self.assertIsNone(r.frame())  # then the node closes
        r.close()

    def test_a_client_bounded_and_its_disconnect_harmless(self):
        a, ra = self.start_controlled()
        # The wire format by hand: the hello, a reply, a bad request answered in turn.
        r = Raw(self.control)
        hello = r.frame()
        self.assertEqual((hello["type"], hello["data"]["id"]), ("hello", ra["id"]))
        r.send_raw(b'{"line_b64":"' + base64.b64encode(b"id") + b'"}\n')
        reply = r.reply()
        self.assertEqual((reply["type"], reply["cmd"], reply["ok"]), ("reply", "id", True))
        self.assertEqual(reply["data"]["id"], ra["id"])
        r.send_raw(b"not json\n")
        bad = r.reply()
        self.assertEqual((bad["ok"], bad["code"]), (False, "bad_request"))
        r.send("id")
        self.assertTrue(r.reply()["ok"])
        # Many commands sent at once without reading: the node reads ahead only so far, and
        # keeps serving everybody else meanwhile; then every answer comes, in order.
        n = 20000
        sender = threading.Thread(target=lambda: r.send_raw(
            b"".join(json.dumps({"line": f"help {'put' if i % 2 else 'get'}"}).encode() + b"\n"
                     for i in range(n))))
        sender.start()
        time.sleep(0.5)
        self.assertEqual(self.cli("id").returncode, 0)
        for i in range(n):
            got = r.reply()
            self.assertEqual(got["data"]["usage"].split()[0], "put" if i % 2 else "get")
        sender.join(timeout=10)
        r.close()
        # A client that goes away in the middle of a command.
        r = Raw(self.control)
        r.frame()
        r.send("ln " + "0" * 40)
        r.close()
        # A line too long: an error, and that client is let go.
        r = Raw(self.control)
        r.frame()
        try:
            r.send_raw(b"x" * (2 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        err = r.reply()
        self.assertEqual((err["type"], err["code"]), ("error", "request_too_long"))
        self.assertIsNone(r.frame())
        r.close()
        self.assertTrue(a.cmd("id")["ok"])
        self.assertEqual(self.cli("id").returncode, 0)
        # Clients at once: 64; the next is told so, and one leaving makes room.
        clients = []
        for _ in range(64):
            clients.append(Raw(self.control))
            self.assertEqual(clients[-1].frame()["type"], "hello")
        extra = Raw(self.control)
        err = extra.frame()
        self.assertEqual((err["type"], err["code"]), ("error", "too_many_clients"))
        extra.close()
        p = self.cli("id")
        self.assertEqual(p.returncode, 3)
        self.assertIn(b"clients already", p.stderr)
        clients.pop().close()
        deadline = time.monotonic() + 5
        while self.cli("id").returncode != 0:
            self.assertLess(time.monotonic(), deadline, "no room after a client left")
            time.sleep(0.05)
        for c in clients:
            c.close()


if __name__ == "__main__":
    KADNODE = os.path.abspath(sys.argv.pop(1))
    CLI = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

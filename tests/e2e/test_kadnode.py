#!/usr/bin/python3
"""End-to-end tests: real kadnode processes on 127.0.0.1.

Every process is started through Harness, which kills whatever is left at the end of each test;
every wait is bounded. Run: test_kadnode.py PATH/TO/kadnode [unittest args].
"""

import hashlib
import itertools
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

KADNODE = None  # set from argv

NO_DISCOVERY = ["--no-discovery"]  # tests here never multicast in the default namespace


class Piped:
    """A process whose stdout lines are read on a thread into a queue (and stderr's into a
    list): kadnode, or another implementation driven by JSON lines."""

    def __init__(self, command, env=None, stdin=subprocess.PIPE):
        self.args = command
        self.p = subprocess.Popen(self.args, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace",
                                  env=env, start_new_session=True)
        self.lines = queue.Queue()
        self.stderr_lines = []
        threading.Thread(target=self._pump, args=(self.p.stdout, self.lines.put),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.p.stderr, self.stderr_lines.append),
                         daemon=True).start()

    @staticmethod
    def _pump(stream, put):
        try:
            for line in stream:
                put(line.rstrip("\n"))
            stream.close()
        finally:
            put(None)  # the end, also if reading failed: readers wait for it

    def line(self, timeout=10):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from {self.args} within {timeout}s") from None
        if line is None:
            try:
                status = self.p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                status = "still running"
            raise AssertionError(f"{self.args} closed stdout (exit status {status}); "
                                 f"stderr: {self.stderr_lines}")
        return line

    def json(self, timeout=10):
        line = self.line(timeout)
        try:
            return json.loads(line)
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}") from None

    def wait_stderr(self, text, timeout=10):
        """The first stderr line holding text, once the reader thread has it (a process may
        have exited before its last lines are read)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = list(self.stderr_lines)
            for line in lines:
                if line is not None and text in line:
                    return line
            if (lines and lines[-1] is None) or time.monotonic() >= deadline:
                ended = "stderr ended" if lines and lines[-1] is None else f"not in {timeout}s"
                raise AssertionError(f"{self.args}: no stderr line with {text!r} ({ended}); "
                                     f"stderr: {lines}")
            time.sleep(0.01)

    def stderr_all(self, timeout=10):
        """Every stderr line, once the process has closed its stderr and the reader thread has
        read to the end (after wait(), lines may still be on their way)."""
        deadline = time.monotonic() + timeout
        while not self.stderr_lines or self.stderr_lines[-1] is not None:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.args}: stderr still open after {timeout}s")
            time.sleep(0.01)
        return self.stderr_lines[:-1]

    def wait_for(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.args}: expected output did not come in {timeout}s")
            obj = self.json(left)
            if pred(obj):
                return obj

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def cmd(self, line, timeout=10):
        """Sends one command and returns its JSON result (skipping events, and the lines a
        streamed result prints before it: "partial")."""
        self.send(line)
        return self.wait_for(lambda o: "cmd" in o and not o.get("partial"), timeout)

    def close_stdin(self):
        self.p.stdin.close()

    def wait(self, timeout=10):
        return self.p.wait(timeout=timeout)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(timeout=5)
        if self.p.stdin and not self.p.stdin.closed:
            try:
                self.p.stdin.close()
            except BrokenPipeError:  # it had unread input when it died
                pass


class Proc(Piped):
    """A kadnode process."""

    def __init__(self, args, env=None, stdin=subprocess.PIPE, prefix=()):
        super().__init__(list(prefix) + [KADNODE] + args, env, stdin)


# Counters of what kadnode could not use: traffic from another implementation must leave them
# at 0 (test_interop.py, test_libtorrent.py).
DROPPED = ["malformed_dropped", "bad_queries", "unknown_methods", "bad_responses", "bad_items",
           "unmatched_replies", "wrong_id"]


class Harness(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="kadnode-e2e-")
        self.env = dict(os.environ, HOME=self.tmp)
        for k in list(self.env):
            if k.startswith("KADNODE_") or k == "RUNTIME_DIRECTORY":  # (the control socket's)
                del self.env[k]
        # A cleanup, not tearDown: it runs even when a subclass's setUp fails after starting
        # something (a capture, a node), which tearDown would leave running.
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in self.procs:
            p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args, env=None, **kw):
        p = Proc(list(args) + NO_DISCOVERY, env=env or self.env, **kw)
        self.procs.append(p)
        return p

    def start_json_node(self, *extra):
        """A node in script mode (commands on stdin) with --json; returns (proc, ready event)."""
        p = self.start("--bind", "127.0.0.1:0", "--json", *extra)
        ready = p.json()
        self.assertEqual(ready["event"], "ready")
        return p, ready

    def wait_for_listen(self, holder, timeout=10):
        """Until `holder` (a --json node) has taken a watch's listen."""
        deadline = time.monotonic() + timeout
        while True:
            stats = holder.cmd("stats --all watch")
            if stats["listens_accepted"] >= 1:
                return
            if time.monotonic() > deadline:
                self.fail(f"no listen reached the holder: {stats}")
            time.sleep(0.05)

    def network(self, n):
        first, ready = self.start_json_node()
        nodes = [(first, ready)]
        for _ in range(n - 1):
            p, r = self.start_json_node("--bootstrap-addr", ready["addr"],
                                        "--bootstrap-id", ready["id"])
            nodes.append((p, r))
        for p, _ in nodes[1:]:
            joined = p.wait_for(lambda o: o.get("event") == "joined")
            self.assertTrue(joined["ok"], joined)
        return nodes


class NetworkTests(Harness):
    def test_ready_is_the_first_line(self):
        p = self.start("--bind", "127.0.0.1:0", "--json")
        first = p.line()
        m = re.match(r'^\{"event":"ready","id":"[0-9a-f]{40}","addr":"127\.0\.0\.1:(\d+)",'
                     r'"probe_addr":"127\.0\.0\.1:(\d+)"\}$', first)
        self.assertIsNotNone(m, first)
        self.assertNotEqual(m.group(1), m.group(2))  # the second port is another port
        # Without the second port, nothing names one.
        q = self.start("--bind", "127.0.0.1:0", "--json", "--no-probe-port")
        self.assertRegex(q.line(),
                         r'^\{"event":"ready","id":"[0-9a-f]{40}","addr":"127\.0\.0\.1:\d+"\}$')

    def test_ten_nodes_put_on_one_get_on_every_other(self):
        nodes = self.network(10)
        putter = nodes[3][0]
        r = putter.cmd("put greeting 'hello from node 3'")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["stored"], 9)  # every other node: fewer than k in the network
        self.assertEqual(r["refused"], 0)
        for i, (p, _) in enumerate(nodes):
            if i == 3:
                continue
            g = p.cmd("get greeting")
            self.assertTrue(g["ok"], g)
            self.assertEqual(g["value"], "hello from node 3")
            self.assertEqual(g["seq"], 0)
        # A newer version reaches everyone too.
        r = nodes[7][0].cmd("put greeting 'second version'")
        self.assertEqual(r["seq"], 1)
        for p, _ in nodes:
            g = p.cmd("get greeting")
            self.assertEqual((g["value"], g["seq"]), ("second version", 1))

    def test_every_command_through_stdin_with_json(self):
        nodes = self.network(3)
        a, ra = nodes[0]
        b, rb = nodes[1]
        c, rc = nodes[2]

        r = b.cmd("put fruit apple")
        self.assertTrue(r["ok"])
        self.assertEqual((r["stored"], r["refused"], r["seq"]), (2, 0, 0))

        r = c.cmd("get fruit")
        self.assertTrue(r["ok"])
        self.assertEqual((r["value"], r["seq"]), ("apple", 0))
        self.assertIn(r["from"]["id"], (ra["id"], rb["id"]))

        r = c.cmd("lv fruit")
        self.assertTrue(r["ok"])
        self.assertEqual(r["value"], "apple")
        self.assertIn("hops", r)
        self.assertIn("queries", r)

        r = b.cmd(f"p {ra['addr']}")
        self.assertTrue(r["ok"])
        self.assertEqual(r["id"], ra["id"])
        self.assertIsInstance(r["rtt_ms"], (int, float))

        r = b.cmd(f"p {ra['addr']} {ra['id']}")
        self.assertTrue(r["ok"])
        r = b.cmd(f"p {ra['addr']} {'0' * 40}")
        self.assertFalse(r["ok"])
        self.assertIn("answered as", r["error"])

        r = b.cmd(f"fn {ra['addr']} {rc['id']}")
        self.assertTrue(r["ok"])
        self.assertEqual([n["id"] for n in r["nodes"]][:1], [rc["id"]])
        for n in r["nodes"]:
            self.assertEqual(set(n), {"id", "addr"})

        r = b.cmd(f"fn {ra['addr']} {ra['id']} {rc['id']}")
        self.assertTrue(r["ok"])

        r = c.cmd(f"fv {ra['addr']} fruit")
        self.assertTrue(r["ok"])
        self.assertTrue(r["found"])
        self.assertEqual(r["value"], "apple")
        r = c.cmd(f"fv {ra['addr']} no-such-key")
        self.assertTrue(r["ok"])
        self.assertFalse(r["found"])

        r = c.cmd(f"s {ra['addr']} {ra['id']} veg 'green beans'")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["seq"], 0)
        r = a.cmd("fv " + ra["addr"] + " veg")  # a asks itself over the network
        self.assertEqual(r.get("value"), "green beans")
        r = c.cmd(f"s {ra['addr']} veg carrots")  # one more than the node holds
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["seq"], 1)

        r = b.cmd(f"ln {rc['id']}")
        self.assertTrue(r["ok"])
        self.assertEqual(r["nodes"][0]["id"], rc["id"])
        self.assertEqual(len(r["nodes"]), 2)  # everyone but b

        r = b.cmd("id")
        self.assertTrue(r["ok"])
        self.assertEqual(r["id"], rb["id"])
        self.assertEqual(r["addr"], rb["addr"])
        self.assertEqual(r["contacts"], 2)

        r = a.cmd("ls")
        self.assertTrue(r["ok"])
        self.assertIn("fruit", [i["key"] for i in r["items"]])

        r = b.cmd("rt")
        self.assertTrue(r["ok"])
        self.assertEqual(r["contacts"], 2)
        ids = {c["id"] for bucket in r["buckets"] for c in bucket["contacts"]}
        self.assertEqual(ids, {ra["id"], rc["id"]})

        r = b.cmd("stats")
        self.assertTrue(r["ok"])
        self.assertGreater(r["packets_in"], 0)
        self.assertGreater(r["queries_out"]["find_value"], 0)
        self.assertEqual(r["held"]["contacts"], 2)
        self.assertEqual(r["held"]["values"], len(b.cmd("ls")["items"]))
        self.assertTrue(all(n <= r["held_bound"][k] for k, n in r["held"].items()), r)

        r = b.cmd("help")
        self.assertTrue(r["ok"])
        self.assertIn("put [--ttl SECONDS] [--seq N] [--trace] <key> <value>",
                      [c["usage"] for c in r["commands"]])
        r = b.cmd("help fn")
        self.assertEqual(r["usage"], "fn <ip>:<port> [<id>] <target-id>")

        d, rd = self.start_json_node()
        r = d.cmd(f"bootstrap {ra['addr']} {ra['id']}")
        self.assertTrue(r["ok"], r)
        self.assertGreaterEqual(r["contacts"], 1)
        r = d.cmd("get fruit")
        self.assertEqual(r.get("value"), "apple")

        r = b.cmd("quit")
        self.assertTrue(r["ok"])
        self.assertEqual(b.wait(), 1)  # the ping with a wrong id failed

    def test_trace_shows_each_query_of_a_lookup_as_it_happens(self):
        nodes = self.network(4)
        a = nodes[3][0]
        ids = {r["id"] for _, r in nodes[:3]}
        for line in (f"ln --trace {nodes[0][1]['id']}", "put --trace fruit apple",
                     "get --trace fruit", "lv --trace fruit"):
            a.send(line)
            events = []
            while True:
                o = a.json()
                if "event" in o:
                    continue
                if not o.get("partial"):
                    break
                self.assertEqual(o["cmd"], line.split()[0])
                events.append(o["trace"])
            self.assertTrue(o["ok"], o)
            kinds = [e["kind"] for e in events]
            self.assertEqual(kinds[-1], "done", line)
            self.assertEqual(events[-1]["queries"], o["queries"], line)
            if "hops" in o:
                self.assertEqual(events[-1]["hops"], o["hops"], line)
            self.assertEqual(kinds.count("query"), o["queries"], line)
            asked = set()
            for e in events[:-1]:
                self.assertIn(e["id"], ids)
                self.assertTrue(0 <= e["distance"] <= 160)
                if e["kind"] == "query":
                    asked.add(e["id"])
                    expected = "find_node" if line.startswith("ln") else "find_value"
                    self.assertEqual(e["method"], expected)
                else:
                    self.assertIn(e["id"], asked, f"{line}: an answer to a query not sent")
                if e["kind"] == "reply":
                    self.assertGreater(e["rtt_ms"], 0)
            self.assertIn("reply", kinds)
        # Without --trace nothing but the result.
        a.send("get fruit")
        o = a.json()
        self.assertNotIn("partial", o)
        self.assertEqual(o["value"], "apple")
        # In text, one line per step and the result last.
        r = subprocess.run([KADNODE, "--no-discovery", "--bind", "127.0.0.1:0",
                            "--bootstrap-addr", nodes[0][1]["addr"], "--exec",
                            "get --trace fruit"], capture_output=True, text=True, timeout=20,
                           env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(any(" query " in x and "find_value" in x for x in lines), lines)
        self.assertTrue(any(" reply " in x and "the value" in x for x in lines), lines)
        self.assertTrue(any(" done " in x for x in lines), lines)

    def test_metrics_serve_the_numbers_of_stats_to_prometheus(self):
        nodes = self.network(3)
        p, ready = self.start_json_node("--bootstrap-addr", nodes[0][1]["addr"], "--metrics", "0")
        self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
        host, port = ready["metrics"].rsplit(":", 1)
        self.assertEqual(host, "127.0.0.1")  # loopback unless an address is given
        for i in range(5):
            self.assertTrue(p.cmd(f"put k{i} v{i}")["ok"])
        before = p.cmd("stats")
        r = subprocess.run(["curl", "-sS", "-i", f"http://{host}:{port}/metrics"],
                           capture_output=True, text=True, timeout=10)
        after = p.cmd("stats")
        self.assertEqual(r.returncode, 0, r.stderr)
        head, body = r.stdout.split("\n\n", 1)  # text mode: \r\n read as \n
        self.assertIn("200 OK", head.splitlines()[0])
        self.assertIn("text/plain; version=0.0.4", head)
        # Parse the text format: every sample after its # HELP and # TYPE.
        helped, typed, samples = set(), {}, {}
        for line in body.splitlines():
            if line.startswith("# HELP "):
                helped.add(line.split()[2])
            elif line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                typed[name] = kind
            else:
                m = re.fullmatch(r'(kadnode_[a-z0-9_]+)(?:\{([a-z]+)="([^"]*)"\})? (\d+)', line)
                self.assertIsNotNone(m, line)
                name, label, value, n = m.groups()
                self.assertIn(name, helped, line)
                self.assertIn(name, typed, line)
                self.assertEqual(name.endswith("_total"), typed[name] == "counter", line)
                samples[(name, value)] = int(n)
        # The same numbers as stats: between the two stats taken around the scrape.
        for key, n in before.items():
            if isinstance(n, int) and not isinstance(n, bool) and key not in ("ok",):
                name = f"kadnode_{key}_total" if f"kadnode_{key}_total" in typed else f"kadnode_{key}"
                self.assertIn((name, None), samples, key)
                lo, hi = sorted((n, after[key]))
                self.assertTrue(lo <= samples[(name, None)] <= hi, (key, n, samples[(name, None)]))
        self.assertEqual(samples[("kadnode_queries_out_total", "store")],
                         before["queries_out"]["store"])
        self.assertEqual(samples[("kadnode_held", "values")], before["held"]["values"])
        self.assertEqual(samples[("kadnode_held_bound", "values")], 100000)
        self.assertGreaterEqual(samples[("kadnode_held", "contacts")], 3)
        # Anything else is refused.
        for args, code in ((["-X", "POST"], "405"), ([], "404")):
            url = f"http://{host}:{port}/" + ("metrics" if args else "")
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args, url],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.stdout, code)
        # A port already taken is a clear error at start.
        bad = subprocess.run([KADNODE, "--no-discovery", "--bind", "127.0.0.1:0", "--metrics",
                              f"{host}:{port}", "--exec", "id"], capture_output=True, text=True,
                             timeout=10, env=self.env)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("--metrics", bad.stderr)

    def test_log_lines_under_systemd_carry_a_priority_and_no_timestamp(self):
        """With stderr connected to the journal (JOURNAL_STREAM names it), log lines start with
        sd-daemon's priority prefix and leave the timestamp to journald; otherwise a time."""
        err_path = os.path.join(self.tmp, "stderr")
        cmd = [KADNODE, "--no-discovery", "--bind", "127.0.0.1:0", "--log-level", "debug",
               "--exec", "ln " + "0" * 40]
        with open(err_path, "w") as err:
            st = os.fstat(err.fileno())
            env = dict(self.env, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=20)
        with open(err_path) as f:
            lines = [x for x in f.read().splitlines() if "lookup" in x]
        self.assertTrue(lines)
        self.assertTrue(all(re.match(r"<7>debug lookup ", x) for x in lines), lines)
        # JOURNAL_STREAM naming another stream (inherited, stderr redirected): plain lines.
        env = dict(self.env, JOURNAL_STREAM="1:2")
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=20)
        lines = [x for x in r.stderr.splitlines() if "lookup" in x]
        self.assertTrue(lines)
        self.assertTrue(all(re.match(r"\d\d:\d\d:\d\d debug lookup ", x) for x in lines),
                        lines)

    def test_exec_runs_in_order_once_joined_and_reports_failure(self):
        _, ready = self.start_json_node()
        p = self.start("--bind", "127.0.0.1:0", "--json", "--bootstrap-addr", ready["addr"],
                       "--exec", "put k v", "--exec", "get k", "--exec", "get missing-key",
                       stdin=subprocess.DEVNULL)
        out = [p.json() for _ in range(5)]
        self.assertEqual([o.get("event") or o.get("cmd") for o in out],
                         ["ready", "joined", "put", "get", "get"])
        self.assertTrue(out[3]["ok"])
        self.assertEqual(out[3]["value"], "v")
        self.assertFalse(out[4]["ok"])
        self.assertEqual(out[4]["error"], "not found")
        self.assertEqual(p.wait(), 1)  # a command failed

        p = self.start("--bind", "127.0.0.1:0", "--exec", "id", stdin=subprocess.DEVNULL)
        self.assertEqual(p.wait(), 0)

    def test_stdin_script_exits_at_end_of_input(self):
        p, _ = self.start_json_node()
        p.send("put a b")
        p.send("get a")
        p.close_stdin()
        self.assertEqual(p.json()["cmd"], "put")
        self.assertEqual(p.json()["value"], "b")
        self.assertEqual(p.wait(), 0)

    def test_bad_commands_give_clear_errors_and_never_crash(self):
        p, ready = self.start_json_node()
        cases = {
            "frobnicate": "unknown command 'frobnicate'",
            "p": "usage: p <ip>:<port> [<id>]",
            "p nonsense": "bad address",
            "p 127.0.0.1:99999": "bad address",
            "p 127.0.0.1:4000 xyz": "bad id",
            "fn 127.0.0.1:4000": "usage: fn",
            "ln 1234": "bad target id",
            "get": "usage: get [--trace] <key>",
            "put onlykey": "usage: put",
            "put --ttl abc k v": "bad --ttl",
            "put k " + "x" * 1001: "value too large (1001 > 1000 bytes)",
            "get " + "k" * 300: "key too large",
            "help nothing": "no command 'nothing'",
            "put 'unterminated": "unterminated ' quote",
            "bootstrap 127.0.0.1:1": "no bootstrap node answered",
        }
        for line, expected in cases.items():
            r = p.cmd(line)
            self.assertFalse(r["ok"], line)
            self.assertIn(expected, r["error"], line)
        # Still alive and serving.
        r = p.cmd("id")
        self.assertTrue(r["ok"])
        p.close_stdin()
        self.assertEqual(p.wait(), 1)
        for line in p.stderr_all():  # log lines may be there; traces of a crash may not
            self.assertNotRegex(line, r"terminate|what\(\)|Sanitizer|Segmentation")

    def test_failures_carry_a_stable_code(self):
        # A node that knows nobody, and a second one it can ask.
        p, _ = self.start_json_node("--timeout-ms", "300")
        q, q_ready = self.start_json_node("--max-value-size", "10")
        cases = [
            ("get nothing-here", "no_contacts"),
            ("frobnicate", "unknown_command"),
            ("p nonsense", "bad_argument"),
            ("put k " + "x" * 1001, "bad_argument"),
            # Nobody listens on port 1 of loopback: no answer within --timeout-ms.
            ("p 127.0.0.1:1", "timeout"),
            ("p " + q_ready["addr"] + " " + "ab" * 20, "wrong_id"),
            ("p [::1]:4000", "unreachable"),  # IPv6 from an IPv4 socket
        ]
        for line, code in cases:
            r = p.cmd(line)
            self.assertFalse(r["ok"], line)
            self.assertEqual(r["code"], code, (line, r))
            self.assertTrue(r["error"], line)
        r = p.cmd("bootstrap " + q_ready["addr"])
        self.assertTrue(r["ok"], r)
        self.assertNotIn("code", r)  # only failures carry one
        r = p.cmd("get nothing-here")
        self.assertEqual((r["ok"], r["code"], r["error"]), (False, "not_found", "not found"))
        # A node's refusal: a value over its limit (but within ours), with its KRPC error.
        r = p.cmd("s " + q_ready["addr"] + " k " + "v" * 20)
        self.assertEqual((r["ok"], r["code"], r["krpc_code"]), (False, "refused", 205), r)
        q.close_stdin()
        p.close_stdin()

    def test_bep5_swarms_from_the_repl(self):
        a, a_ready = self.start_json_node()
        b, _ = self.start_json_node("--bootstrap-addr", a_ready["addr"])
        self.assertTrue(b.wait_for(lambda o: o.get("event") == "joined")["ok"])
        swarm = "ab" * 20
        # Iterative: b joins the swarm on the nodes nearest it (here: a).
        r = b.cmd("announce " + swarm + " 6881")
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["announced"], r["port"]), (1, 6881))
        r = a.cmd("peers " + swarm)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["peers"], ["127.0.0.1:6881"])
        # One node at a time: a announces itself to b at port 7000, then asks b.
        b_addr = b.cmd("id")["addr"]
        r = a.cmd("gp " + b_addr + " " + swarm)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["peers"], [])
        r = a.cmd("ap " + b_addr + " " + swarm + " 7000")
        self.assertTrue(r["ok"], r)
        r = a.cmd("gp " + b_addr + " " + swarm)
        self.assertEqual(r["peers"], ["127.0.0.1:7000"])
        # Without a port: the port a's datagrams come from (implied_port). One entry per address:
        # a's entry moves to that port.
        self.assertTrue(a.cmd("ap " + b_addr + " " + swarm)["ok"])
        r = a.cmd("gp " + b_addr + " " + swarm)
        self.assertEqual(r["peers"], [a_ready["addr"]])
        # Bad input and silence get the usual errors and codes.
        for line, code in [("gp " + b_addr, "bad_argument"),
                           ("ap " + b_addr + " " + swarm + " 70000", "bad_argument"),
                           ("peers nothex", "bad_argument")]:
            r = a.cmd(line)
            self.assertEqual((r["ok"], r["code"]), (False, code), (line, r))
        r = a.cmd("stats")
        self.assertEqual(r["announces_accepted"], 1)
        self.assertEqual(r["queries_in"]["announce_peer"], 1)
        # BEP 51: which swarms b holds (a announced itself there).
        r = a.cmd("samples " + b_addr)
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["num"], r["samples"]), (1, [swarm]), r)
        self.assertTrue(0 < r["interval_s"] <= 21600, r)
        r = a.cmd("samples " + b_addr + " nothex")
        self.assertEqual((r["ok"], r["code"]), (False, "bad_argument"), r)
        a.close_stdin()
        b.close_stdin()

    def test_a_bootstrap_host_name_is_resolved(self):
        # As a user joins the BitTorrent DHT (router.bittorrent.com:6881), here on localhost.
        a, a_ready = self.start_json_node()
        port = a_ready["addr"].rsplit(":", 1)[1]
        b, _ = self.start_json_node("--bootstrap-addr", "localhost:" + port)
        joined = b.wait_for(lambda o: o.get("event") == "joined")
        self.assertEqual((joined["ok"], joined["contacts"]), (True, 1), joined)
        self.assertEqual(b.cmd("rt")["buckets"][0]["contacts"][0]["id"], a_ready["id"])

    def test_a_read_only_node_uses_the_network_and_serves_nothing(self):
        a, a_ready = self.start_json_node()
        r, r_ready = self.start_json_node("--read-only", "--bootstrap-addr", a_ready["addr"])
        self.assertTrue(r.wait_for(lambda o: o.get("event") == "joined")["ok"])
        p = r.cmd("put colour blue")
        self.assertEqual((p["ok"], p["stored"]), (True, 1), p)
        self.assertEqual(a.cmd("get colour")["value"], "blue")
        self.assertEqual(a.cmd("rt")["contacts"], 0)  # BEP 43: kept out of a's table
        self.assertGreater(a.cmd("stats")["read_only_queries"], 0)
        q = a.cmd("p " + r_ready["addr"])
        self.assertEqual((q["ok"], q["code"]), (False, "timeout"), q)
        self.assertGreater(r.cmd("stats")["queries_ignored"], 0)
        a.close_stdin()
        r.close_stdin()

    def test_bep44_items_from_the_repl(self):
        a, a_ready = self.start_json_node()
        b, _ = self.start_json_node("--bootstrap-addr", a_ready["addr"])
        self.assertTrue(b.wait_for(lambda o: o.get("event") == "joined")["ok"])
        # Immutable: stored as a bencoded string at the SHA-1 of its bencoding.
        r = b.cmd("bput hello world")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["target"], hashlib.sha1(b"11:hello world").hexdigest())
        self.assertEqual((r["stored"], r["stored_locally"]), (1, True))
        r = a.cmd("bget " + r["target"])
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["value"], r["bencoded"]), ("hello world", "11:hello world"))
        # Mutable: signed by b's identity; the second put is the next seq.
        r = b.cmd("mput --salt s first")
        self.assertTrue(r["ok"], r)
        pk = r["public_key"]
        self.assertEqual(len(pk), 64)
        self.assertEqual(r["target"], hashlib.sha1(bytes.fromhex(pk) + b"s").hexdigest())
        self.assertEqual((r["seq"], r["salt"]), (1, "s"))
        r = b.cmd("mput --salt s second")
        self.assertEqual((r["ok"], r["seq"], r["public_key"]), (True, 2, pk))
        r = a.cmd(f"mget {pk} s")
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["value"], r["seq"], r["public_key"]), ("second", 2, pk))
        # Another salt is another item, not found.
        r = a.cmd(f"mget {pk} t")
        self.assertEqual((r["ok"], r["code"]), (False, "not_found"), r)
        # The holder lists both, apart from kadnode's own items.
        ls = a.cmd("ls")
        self.assertEqual(ls["items"], [])
        self.assertEqual(sorted(i["mutable"] for i in ls["bep44"]), [False, True])
        for line in ["bget nothex", "mget abc", "mput --salt " + "x" * 65 + " v", "bput"]:
            r = a.cmd(line)
            self.assertEqual((r["ok"], r["code"]), (False, "bad_argument"), (line, r))
        r = a.cmd("stats")
        self.assertEqual((r["puts_accepted"], r["puts_refused"]), (3, 0))
        self.assertEqual(r["queries_in"]["put"], 3)
        self.assertGreaterEqual(r["queries_in"]["get"], 3)
        a.close_stdin()
        b.close_stdin()

    def test_bad_flags_exit_2_with_one_clear_line(self):
        cases = [
            (["--frobnicate"], "--frobnicate"),
            (["--k", "0"], "--k 0"),
            (["--k", "lots"], "--k"),
            (["--bind", "nonsense"], "--bind"),
            (["--bind", "127.0.0.1:70000"], "--bind"),
            (["--id", "xyz"], "--id"),
            (["--log-level", "loud"], "--log-level"),
            (["--timeout-ms", "-5"], "--timeout-ms"),
            (["--bootstrap-id", "0" * 40], "--bootstrap-id"),
            (["--bootstrap-addr", "no-such-host.invalid:4000"], "no-such-host.invalid"),
            (["--config", "/nonexistent/kadnode.conf"], "--config"),
            (["--identity", "/nonexistent/identity.pem"], "--identity"),
            # A command without --exec is not run, nor ignored.
            (["put", "foo", "bar", "--exec", "id"], "unexpected 'put foo bar'"),
        ]
        for args, expected in cases:
            p = subprocess.run([KADNODE] + args + NO_DISCOVERY, capture_output=True, text=True,
                               timeout=20, stdin=subprocess.DEVNULL, env=self.env)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, (args, p.stderr))
            self.assertIn(expected, lines[0], args)
            self.assertTrue(lines[0].startswith("kadnode: "), lines[0])
            self.assertNotIn("what()", p.stderr)
            self.assertEqual(p.stdout, "")

    def test_a_value_every_node_refuses_is_not_found_afterwards(self):
        # Three nodes that take values up to 500 bytes, and one that takes the default 1,000.
        first, ready = self.start_json_node("--max-value-size", "500")
        for _ in range(2):
            p, _ = self.start_json_node("--max-value-size", "500", "--bootstrap-addr",
                                        ready["addr"], "--bootstrap-id", ready["id"])
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
        big, _ = self.start_json_node("--bootstrap-addr", ready["addr"], "--bootstrap-id",
                                      ready["id"])
        self.assertTrue(big.wait_for(lambda o: o.get("event") == "joined")["ok"])
        r = big.cmd("put large " + "x" * 800)
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["stored"], 0, r)
        self.assertGreater(r["refused"], 0, r)
        self.assertIn("not kept here either", r["error"])
        self.assertEqual(big.cmd("get large")["ok"], False)
        self.assertEqual(big.cmd("ls")["items"], [])

    def test_config_file_and_environment_errors_say_where(self):
        def run(args, env_extra=None, config=None):
            env = dict(self.env, **(env_extra or {}))
            with tempfile.TemporaryDirectory() as tmp:
                if config is not None:
                    path = os.path.join(tmp, "kad.conf")
                    with open(path, "w") as f:
                        f.write(config)
                    args = args + ["--config", path]
                return subprocess.run([KADNODE] + args, capture_output=True, text=True,
                                      timeout=20, stdin=subprocess.DEVNULL, env=env)

        bad = [
            ("bind = 127.0.0.1:0\n# a comment\n\nbogus = 1\n",
             "kad.conf:4: unknown option 'bogus'"),
            ("config = other.conf\n", "kad.conf:1: a config file cannot name another"),
            ("k = lots\n", "kad.conf:1: the argument ('lots') for option 'k' is invalid"),
            ("bind\n", "kad.conf:1: 'bind' needs a value"),
        ]
        for config, expected in bad:
            p = run(NO_DISCOVERY + ["--exec", "id"], config=config)
            self.assertEqual(p.returncode, 2, (config, p.stderr))
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertTrue(lines[0].startswith("kadnode: "), lines[0])
            self.assertIn(expected, lines[0], config)
            self.assertEqual(p.stdout, "")
        p = run(NO_DISCOVERY + ["--exec", "id"], env_extra={"KADNODE_BOGUS": "1"})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr.strip(),
                         "kadnode: KADNODE_BOGUS in the environment: there is no option --bogus")
        # A switch alone on its line is on: here no second port, so the ready event names none.
        p = run(NO_DISCOVERY + ["--json", "--exec", "id"],
                config="no-probe-port  # a comment\nbind = 127.0.0.1:0\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        ready = json.loads(p.stdout.splitlines()[0])
        self.assertTrue(ready["addr"].startswith("127.0.0.1:"), ready)
        self.assertNotIn("probe_addr", ready)
        # --help gives the ranges the README gives.
        out = run(["--help"]).stdout
        lines = out.splitlines()
        for flag, limits in [("--k", "(1-64)"), ("--alpha", "(1-16)"),
                             ("--timeout-ms", "(10-60000)"), ("--max-value-size", "(1-32768)")]:
            at = next(i for i, text in enumerate(lines) if text.strip().startswith(flag + " "))
            self.assertIn(limits, " ".join(lines[at:at + 2]), flag)

    def test_ipv6_and_dual_stack(self):
        import socket
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        dual = self.start("--bind", "[::]:0", "--json")
        rd = dual.json()
        port = rd["addr"].rsplit(":", 1)[1]
        v6 = self.start("--bind", "[::1]:0", "--json", "--bootstrap-addr", f"[::1]:{port}")
        self.assertEqual(v6.json()["event"], "ready")
        self.assertTrue(v6.wait_for(lambda o: o.get("event") == "joined")["ok"])
        v4 = self.start("--bind", "127.0.0.1:0", "--json", "--bootstrap-addr", f"127.0.0.1:{port}")
        self.assertTrue(v4.wait_for(lambda o: o.get("event") == "joined")["ok"])

        addrs = {c["addr"] for b in dual.cmd("rt")["buckets"] for c in b["contacts"]}
        self.assertTrue(any(a.startswith("[::1]:") for a in addrs), addrs)
        self.assertTrue(any(a.startswith("127.0.0.1:") for a in addrs), addrs)
        # An IPv6 asker is told of IPv6 contacts (in nodes6) and not of IPv4 ones (BEP 32).
        v6b = self.start("--bind", "[::1]:0", "--json", "--bootstrap-addr", f"[::1]:{port}")
        r6b = v6b.json()
        self.assertTrue(v6b.wait_for(lambda o: o.get("event") == "joined")["ok"])
        r = v6.cmd(f"fn [::1]:{port} {r6b['id']}")
        self.assertTrue(r["ok"])
        self.assertEqual([n["addr"] for n in r["nodes"]], [r6b["addr"]])
        # An IPv4-only node cannot reach IPv6, and says so at once.
        r = v4.cmd(f"p [::1]:{port}")
        self.assertFalse(r["ok"])
        self.assertIn("IPv6 needs", r["error"])
        # Values cross between the families through the dual-stack node.
        self.assertTrue(v6.cmd("put across families")["ok"])
        self.assertEqual(v4.cmd("get across")["value"], "families")

    def test_probes_take_a_host_name_as_bootstrap_addr_does(self):
        (a, ra), (b, rb) = self.network(2)
        port = ra["addr"].rsplit(":", 1)[1]
        r = b.cmd(f"p localhost:{port}")
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["id"], r["addr"]), (ra["id"], ra["addr"]))
        self.assertTrue(b.cmd(f"fn localhost:{port} {rb['id']}")["ok"])
        self.assertTrue(b.cmd(f"s localhost:{port} named value")["ok"])
        self.assertEqual(b.cmd(f"fv localhost:{port} named")["value"], "value")
        self.assertTrue(b.cmd(f"gp localhost:{port} {'ab' * 20}")["ok"])
        # (A name that does not resolve is not tried: that would ask a DNS server off this host.)
        for line, error in [("p localhost", "bad address 'localhost': expected HOST:PORT"),
                            ("p localhost:0", "the port is a number from 1 to 65535"),
                            ("p 127.0.0.1:0", "bad address '127.0.0.1:0': port 0")]:
            r = b.cmd(line)
            self.assertEqual(r["code"], "bad_argument", line)
            self.assertIn(error, r["error"], line)

    def test_watch_in_a_script_reports_each_version_as_an_event_until_unwatch(self):
        (a, ra), (b, rb) = self.network(2)
        r = b.cmd("watch news")
        self.assertEqual((r["ok"], r["key"]), (True, "news"))
        self.assertTrue(a.cmd("put news v0")["ok"])
        e = b.wait_for(lambda o: o.get("event") == "watch")
        self.assertEqual((e["key"], e["value"], e["seq"]), ("news", "v0", 0))
        self.assertTrue(b.cmd("id")["ok"])  # later commands run beside it
        self.assertTrue(a.cmd("put news v1")["ok"])
        e = b.wait_for(lambda o: o.get("event") == "watch")
        self.assertEqual((e["value"], e["seq"]), ("v1", 1))
        self.assertTrue(b.cmd("unwatch news")["ok"])
        self.assertEqual(b.cmd("unwatch news")["code"], "not_found")
        self.assertTrue(a.cmd("put news v2")["ok"])
        b.send("id")  # nothing of the watch comes before this answer
        seen = []
        while not seen or "cmd" not in seen[-1]:
            seen.append(b.json())
        self.assertEqual([o for o in seen if o.get("event") == "watch"], [], seen)
        self.assertEqual(b.cmd("watch")["code"], "bad_argument")

    def test_watch_hears_a_new_version_from_the_holder_it_listens_to(self):
        # With k = 1 the key has one holder, `h` (its ID is the key's target); the watcher `w` and
        # the writer `p` are far from it. h tells w of each version p stores there (notify).
        target = hashlib.sha1(b"news").digest()

        def near(flip):
            return bytes([target[0] ^ flip]) + target[1:]

        h, rh = self.start_json_node("--k", "1", "--id", target.hex())
        joined = []
        for flip in (0x80, 0x40):
            p, r = self.start_json_node("--k", "1", "--id", near(flip).hex(),
                                        "--bootstrap-addr", rh["addr"], "--bootstrap-id", rh["id"])
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
            joined.append((p, r))
        (w, rw), (p, rp) = joined
        self.assertTrue(w.cmd("watch news")["ok"])
        self.wait_for_listen(h)  # the watch's first round found nothing, and listens at h
        for seq, value in enumerate(["v0", "v1"]):
            r = p.cmd(f"put news {value}")
            self.assertTrue(r["ok"], r)
            e = w.wait_for(lambda o: o.get("event") == "watch")
            self.assertEqual((e["value"], e["seq"], e["via"]), (value, seq, "notify"), e)
            self.assertEqual(e["from"]["id"], rh["id"])
        self.assertGreaterEqual(h.cmd("stats watch")["notifies_sent"], 2)

    def test_port_in_use_is_a_clear_error(self):
        _, ready = self.start_json_node()
        p = subprocess.run([KADNODE, "--bind", ready["addr"]] + NO_DISCOVERY, capture_output=True,
                           text=True, timeout=20, stdin=subprocess.DEVNULL, env=self.env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot bind UDP " + ready["addr"], p.stderr)

    def test_a_node_that_falls_behind_warns_and_counts_what_the_system_dropped(self):
        # Stopped, the node cannot read: of 60,000 one-byte datagrams, what its receive queue
        # does not hold (about 10,000 in the 4 MiB it asks for) the system drops.
        node, ready = self.start_json_node()
        host, port = ready["addr"].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        os.kill(node.p.pid, signal.SIGSTOP)
        try:
            for _ in range(60000):
                s.sendto(b"x", (host, int(port)))
        finally:
            os.kill(node.p.pid, signal.SIGCONT)
            s.close()
        line = node.wait_stderr("datagrams dropped by the system", timeout=10)
        self.assertRegex(line, r"warn.* \d+ datagrams dropped by the system so far: the receive "
                         r"queue was full, the node fell behind")
        dropped = int(re.search(r"(\d+) datagrams dropped", line).group(1))
        self.assertGreater(dropped, 0, line)
        # The count in stats is the warning's, or more if datagrams still on their way when the
        # node went on were dropped after it looked.
        self.assertGreaterEqual(node.cmd("stats")["receive_overflows"], dropped)

    def test_help_and_version(self):
        p = subprocess.run([KADNODE, "--help"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0)
        for flag in ["--id", "--bind", "--bootstrap-addr", "--bootstrap-id", "--network", "--k",
                     "--alpha", "--timeout-ms", "--max-value-size", "--log-level", "--log-file",
                     "--config", "--exec", "--no-repl", "--json", "--version"]:
            self.assertIn(flag, p.stdout)
        p = subprocess.run([KADNODE, "--version"], capture_output=True, text=True, timeout=20)
        self.assertRegex(p.stdout, r"^kadnode \d+\.\d+\.\d+\n$")

    def test_environment_and_config_file(self):
        env = dict(self.env, KADNODE_BIND="127.0.0.1:0", KADNODE_NETWORK="from-env")
        p = self.start("--json", env=env)
        ready = p.json()
        self.assertTrue(ready["addr"].startswith("127.0.0.1:"))
        self.assertEqual(p.cmd("id")["network"], "from-env")

        conf = os.path.join(self.tmp, "kadnode.conf")
        with open(conf, "w") as f:
            f.write("bind = 127.0.0.1:0\nnetwork = from-file\nmax-value-size = 10\n")
        p = self.start("--json", "--config", conf, env=env)
        p.json()
        self.assertEqual(p.cmd("id")["network"], "from-env")  # the environment wins
        self.assertIn("value too large (11 > 10 bytes)", p.cmd("put k " + "x" * 11)["error"])
        p = self.start("--json", "--config", conf, "--network", "from-flag", env=env)
        p.json()
        self.assertEqual(p.cmd("id")["network"], "from-flag")  # the command line wins

    def test_sigterm_and_sigint_exit_0_promptly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            p = self.start("--bind", "127.0.0.1:0", "--json", "--no-repl")
            p.json()
            t0 = time.monotonic()
            p.p.send_signal(sig)
            self.assertEqual(p.wait(timeout=5), 0)
            self.assertLess(time.monotonic() - t0, 2)
        # Also in the middle of a lookup that waits on a dead node.
        p, _ = self.start_json_node("--timeout-ms", "5000")
        p.send("p 127.0.0.1:9")
        self.assert_stops_promptly(p, signal.SIGTERM, 0)

    def assert_stops_promptly(self, p, sig, status):
        """Sends `sig` to a node a moment after it began to wait, and expects `status` within
        2 s."""
        time.sleep(0.3)
        t0 = time.monotonic()
        p.p.send_signal(sig)
        self.assertEqual(p.wait(timeout=5), status)
        self.assertLess(time.monotonic() - t0, 2)

    def test_sigint_stops_a_script_with_130_and_says_what_it_cancelled(self):
        # As a shell's script: Ctrl-C (SIGINT) to a node reading commands ends it with 128 + 2,
        # promptly, even in the middle of a probe that waits on a dead node.
        p, _ = self.start_json_node("--timeout-ms", "10000")
        p.send("p 127.0.0.1:9")
        self.assert_stops_promptly(p, signal.SIGINT, 130)
        rest = []
        while (line := p.lines.get(timeout=5)) is not None:
            rest.append(json.loads(line))
        cancelled = [j for j in rest if j.get("cmd") == "p"]
        self.assertEqual(len(cancelled), 1, cancelled)
        self.assertEqual(cancelled[0]["code"], "cancelled")
        # --exec too; and while the script still waits for its bootstrap (whose cancel is no
        # failure of the script's).
        for args in (["--exec", "p 127.0.0.1:9"],
                     ["--bootstrap-addr", "127.0.0.1:9", "--exec", "id"]):
            p = self.start("--bind", "127.0.0.1:0", "--timeout-ms", "10000", *args)
            self.assert_stops_promptly(p, signal.SIGINT, 130)

    def test_a_value_taken_by_another_writer_is_no_longer_ours(self):
        (a, ra), (b, rb) = self.network(2)
        self.assertTrue(a.cmd("put --ttl 20 k mine")["ok"])
        self.assertTrue(a.cmd("ls k")["items"][0]["original"])
        # A stranger asks A for a token and stores a newer version (seq 1) there.
        s = b.cmd(f"s {ra['addr']} k evil")
        self.assertTrue(s["ok"], s)
        ev = a.wait_for(lambda o: o.get("event") == "superseded")
        self.assertEqual((ev["store"], ev["key"], ev["seq"]), ("values", "k", 1))
        self.assertEqual(ev["by"].rsplit(":", 1)[0], "127.0.0.1")
        item = a.cmd("ls k")["items"][0]
        self.assertEqual((item["value"], item["original"]), ("evil", False))
        self.assertNotIn("refresh_in_s", item)
        self.assertEqual(a.cmd("stats")["values_superseded"], 1)

    def test_log_file(self):
        log = os.path.join(self.tmp, "node.log")
        p, ready = self.start_json_node("--log-level", "trace", "--log-file", log)
        q, _ = self.start_json_node("--bootstrap-addr", ready["addr"])
        q.wait_for(lambda o: o.get("event") == "joined")
        p.cmd("id")
        with open(log) as f:
            text = f.read()
        self.assertIn("trace query ping from 127.0.0.1:", text)


class StateTests(Harness):
    """--state-dir: restarts, crashes, damaged files, the lock; and a clean stop's hand-off."""

    def state_node(self, d, *extra, save_interval="0.2"):
        p = self.start("--bind", "127.0.0.1:0", "--json", "--state-dir", d,
                       "--save-interval", save_interval, *extra)
        ready = p.json()
        self.assertEqual(ready["event"], "ready")
        return p, ready

    def killed_and_restarted(self, save_interval, pause):
        """Five nodes with --state-dir put 100 values, wait `pause` seconds, are all killed with
        SIGKILL, and come back with no bootstrap flag; every value is read back."""
        dirs = [os.path.join(self.tmp, f"n{i}") for i in range(5)]
        first, r0 = self.state_node(dirs[0], save_interval=save_interval)
        nodes = [(first, r0)]
        for d in dirs[1:]:
            p, r = self.state_node(d, "--bootstrap-addr", r0["addr"], save_interval=save_interval)
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
            nodes.append((p, r))
        for i in range(100):
            r = nodes[i % 5][0].cmd(f"put key{i} value{i}")
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["stored"], 4, r)
        time.sleep(pause)
        for p, _ in nodes:
            os.killpg(p.p.pid, signal.SIGKILL)
            p.p.wait(5)
        # Restart with no bootstrap flag: each finds its saved contacts, at its saved port.
        again = []
        for d, (_, r) in zip(dirs, nodes):
            p = self.start("--json", "--state-dir", d)
            ready = p.json()
            self.assertEqual(ready["id"], r["id"])
            self.assertEqual(ready["addr"].rsplit(":", 1)[1], r["addr"].rsplit(":", 1)[1])
            again.append(p)
        for p in again:  # the first ones up retry until the others answer
            joined = p.wait_for(lambda o: o.get("event") == "joined", timeout=15)
            self.assertTrue(joined["ok"], joined)
            self.assertNotIn("note", joined)
        for p in again:  # every node holds every value itself: none waits for another
            ls = p.cmd("ls --limit 100")
            self.assertEqual(ls["items_matched"], 100, ls)
            self.assertEqual(len(ls["items"]), 100, ls)
            self.assertTrue(all(0 < it["ttl_s"] <= 86400 for it in ls["items"]))
        for i in range(100):
            g = again[(i + 2) % 5].cmd(f"get key{i}")
            self.assertEqual(g.get("value"), f"value{i}", g)

    def test_a_network_killed_and_restarted_keeps_every_value(self):
        self.killed_and_restarted("0.2", pause=1)  # a few saves of the state file

    def test_kill_9_right_after_the_puts_loses_nothing_acknowledged(self):
        # No save of the state file since the node started: only the journal holds the values.
        self.killed_and_restarted("3600", pause=0)

    def test_values_journaled_before_the_wall_clock_is_set_a_day_ahead_survive_kill_9(self):
        """The journal keeps expiry times on the wall clock. Set a day ahead (an NTP step after a
        boot with a wrong clock), with the monotonic clock untouched (libfaketime), the node
        notices and saves a snapshot in the new terms: values put before the step, with 10
        minutes to live, are all there after SIGKILL and a restart under the new clock."""
        lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
        if not os.path.exists(lib):
            self.skipTest("libfaketime (Debian's faketime) is not installed")
        offset = os.path.join(self.tmp, "clock-offset")
        with open(offset, "w") as f:
            f.write("+0\n")
        env = dict(self.env, LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=offset,
                   FAKETIME_CACHE_DURATION="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
        d = os.path.join(self.tmp, "n")
        p = self.start("--bind", "127.0.0.1:0", "--json", "--state-dir", d, "--save-interval",
                       "3600", "--log-level", "info", env=env)
        self.assertEqual(p.json()["event"], "ready")
        for i in range(20):
            self.assertTrue(p.cmd(f"put --ttl 600 key{i} value{i}")["ok"])
        with open(offset, "w") as f:
            f.write("+1d\n")
        p.wait_stderr("wall clock moved +86")
        os.killpg(p.p.pid, signal.SIGKILL)
        p.p.wait(5)
        again = self.start("--json", "--state-dir", d, env=env)
        self.assertEqual(again.json()["event"], "ready")
        ls = again.cmd("ls --limit 100")
        self.assertEqual(ls["items_matched"], 20, ls)
        self.assertTrue(all(500 < it["ttl_s"] <= 600 for it in ls["items"]), ls)

    def test_the_id_and_port_are_on_disk_before_ready(self):
        d = os.path.join(self.tmp, "n")
        p, ready = self.state_node(d, save_interval="3600")
        os.killpg(p.p.pid, signal.SIGKILL)
        p.p.wait(5)
        again = self.start("--json", "--state-dir", d)
        ready2 = again.json()
        self.assertEqual(ready2["id"], ready["id"])
        self.assertEqual(ready2["addr"].rsplit(":", 1)[1], ready["addr"].rsplit(":", 1)[1])

    def test_the_identity_is_made_once_and_kept(self):
        d = os.path.join(self.tmp, "n")
        p, _ = self.state_node(d)
        r = p.cmd("mput v1")
        self.assertEqual(r["code"], "no_contacts", r)  # alone: kept here only
        pk = r["public_key"]
        pem = os.path.join(d, "identity.pem")
        self.assertEqual(os.stat(pem).st_mode & 0o777, 0o600)
        p.close_stdin()
        self.assertEqual(p.wait(), 1)  # a script whose command failed
        p, _ = self.state_node(d)
        self.assertEqual(p.cmd("mput v2")["public_key"], pk)
        p.close_stdin()
        self.assertEqual(p.wait(), 1)
        # The same key given with --identity, to a node without a state directory.
        q, _ = self.start_json_node("--identity", pem)
        self.assertEqual(q.cmd("mput v3")["public_key"], pk)
        # Without either, a key for this run only.
        e, _ = self.start_json_node()
        other = e.cmd("mput v4")["public_key"]
        self.assertNotEqual(other, pk)
        self.assertEqual(e.cmd("mput v5")["public_key"], other)

    def test_bep44_items_come_back_after_a_restart_still_published_here(self):
        d = os.path.join(self.tmp, "n")
        other, o_ready = self.start_json_node()
        p, ready = self.state_node(d, "--bootstrap-addr", o_ready["addr"])
        self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
        imm = p.cmd("bput kept across restarts")
        mut = p.cmd("mput --salt s signed and kept")
        self.assertTrue(imm["ok"] and mut["ok"], (imm, mut))
        p.close_stdin()
        self.assertEqual(p.wait(), 0)  # a clean stop saves
        p, _ = self.state_node(d, "--bootstrap-addr", o_ready["addr"])
        items = {i["target"]: i for i in p.cmd("ls")["bep44"]}
        self.assertEqual(set(items), {imm["target"], mut["target"]}, items)
        for i in items.values():
            self.assertTrue(i["original"], i)
            self.assertTrue(0 <= i["refresh_in_s"] <= 90 * 60, i)  # 1.5 h after the last put
        self.assertEqual(items[mut["target"]]["seq"], mut["seq"])
        g = p.cmd(f"mget {mut['public_key']} s")  # its own restored copy: no newer one is out there
        self.assertEqual((g["ok"], g["value"], g["seq"], g["local"]),
                         (True, "signed and kept", mut["seq"], True), g)
        # The node it put them on holds them as a peer's items, not as its own.
        theirs = {i["target"]: i for i in other.cmd("ls")["bep44"]}
        self.assertEqual(set(theirs), set(items))
        self.assertFalse(any(i["original"] or "refresh_in_s" in i for i in theirs.values()))

    def test_a_damaged_state_file_is_set_aside(self):
        d = os.path.join(self.tmp, "n")
        p, r = self.state_node(d)
        p.cmd("put k v")
        p.close_stdin()
        self.assertEqual(p.wait(), 0)
        with open(os.path.join(d, "state"), "r+b") as f:
            f.truncate(40)
        p, r2 = self.state_node(d)
        self.assertNotEqual(r2["id"], r["id"])  # a fresh start
        self.assertEqual(p.cmd("ls")["items"], [])
        p.close_stdin()
        self.assertEqual(p.wait(), 0)
        lines = p.stderr_all()
        warning = [l for l in lines if "is damaged" in l]
        self.assertEqual(len(warning), 1, lines)
        self.assertIn("checksum mismatch", warning[0])
        self.assertTrue(any(n.startswith("state.damaged-") for n in os.listdir(d)))

    def test_a_second_process_on_one_state_dir_is_refused(self):
        d = os.path.join(self.tmp, "n")
        self.state_node(d)
        p = subprocess.run([KADNODE, "--state-dir", d, "--bind", "127.0.0.1:0"] + NO_DISCOVERY,
                           capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
                           env=self.env)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^kadnode: --state-dir .* is in use by another kadnode "
                                   r"\(pid \d+\)\n$")

    def run_k2(self, leave_timeout):
        """k = 2: each value lives on the 2 nodes nearest its key. A sixth node puts them all
        and then crashes (taking its own copies), and two of the five stop cleanly: only the
        hand-off at their stop keeps the values whose 2 holders were exactly those two."""
        flags = ("--k", "2", "--leave-timeout", leave_timeout)
        # Fixed IDs, so that the two leaving nodes (1 and 3, both 1000...) are together the two
        # nearest to about a quarter of the keys: with random IDs they may be so far apart that
        # they never are, and the control (no hand-off) would lose nothing.
        ids = ["00" + "11" * 19, "80" + "11" * 19, "40" + "11" * 19, "81" + "11" * 19,
               "c0" + "11" * 19]
        first, r0 = self.start_json_node(*flags, "--id", ids[0])
        nodes = [first]
        for i in range(1, 5):
            p, _ = self.start_json_node(*flags, "--id", ids[i], "--bootstrap-addr", r0["addr"])
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
            nodes.append(p)
        publisher, _ = self.start_json_node(*flags, "--id", "20" + "11" * 19,
                                            "--bootstrap-addr", r0["addr"])
        self.assertTrue(publisher.wait_for(lambda o: o.get("event") == "joined")["ok"])
        for i in range(100):
            r = publisher.cmd(f"put key{i} value{i}")
            self.assertEqual(r["stored"], 2, r)
        os.killpg(publisher.p.pid, signal.SIGKILL)
        for leaving in (nodes[1], nodes[3]):
            leaving.p.send_signal(signal.SIGTERM)
            if leave_timeout != "0":
                handoff = leaving.wait_for(lambda o: o.get("event") == "handoff", timeout=10)
                self.assertNotIn("timed_out", handoff)
                self.assertEqual(handoff["short"], 0, handoff)
            self.assertEqual(leaving.wait(10), 0)
        lost = [i for i in range(100)
                if nodes[(0, 2, 4)[i % 3]].cmd(f"get key{i}").get("value") != f"value{i}"]
        return lost

    def test_clean_stops_hand_items_over_with_k_2_all_found(self):
        self.assertEqual(self.run_k2("5"), [])

    def test_without_the_hand_off_values_are_lost(self):
        # The control: the same run with --leave-timeout 0 loses some values.
        self.assertNotEqual(self.run_k2("0"), [])


def bencode(v):
    """Bencoding of ints, bytes, str, lists and dicts (keys sorted), for files the tests write."""
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"


def write_state(directory, items):
    """A --state-dir holding `items` ((key, value) pairs, bytes) that expire in six days, in the
    format of src/state.cpp: "KADSTATE", the SHA-256 of the payload, the bencoded payload."""
    os.makedirs(directory, exist_ok=True)
    now_ms = int(time.time() * 1000)
    day_ms = 86400 * 1000
    payload = bencode({
        "version": 1, "id": os.urandom(20), "port": 0, "contacts": [],
        "items": [{"e": now_ms + 6 * day_ms, "k": k, "o": 0, "p": 0, "s": 0, "t": 7 * day_ms,
                   "v": v} for k, v in items]})
    with open(os.path.join(directory, "state"), "wb") as f:
        f.write(b"KADSTATE" + hashlib.sha256(payload).digest() + payload)


class LsTests(Harness):
    """ls: a glob on the key, a limit, and a full store listed in bounded memory."""

    def ls_node(self, items, *extra):
        d = os.path.join(self.tmp, "state")
        write_state(d, items)
        p = self.start("--bind", "127.0.0.1:0", "--state-dir", d, "--save-interval", "3600",
                       *extra)
        return p

    def test_limit_and_pattern(self):
        items = [(b"key%03d" % i, b"value %d" % i) for i in range(250)]
        items += [(b"other%d" % i, b"x" * 1000) for i in range(3)]
        p = self.ls_node(items, "--json")
        self.assertEqual(p.json()["event"], "ready")

        r = p.cmd("ls")  # the first 100, sorted by key
        self.assertTrue(r["ok"], r)
        self.assertEqual([i["key"] for i in r["items"]],
                         ["key%03d" % i for i in range(100)])
        self.assertEqual((r["items_matched"], r["limit"], r["more"]), (253, 100, True))
        self.assertEqual(set(r["items"][0]),
                         {"key", "value", "seq", "ttl_s", "original", "target"})
        self.assertEqual(r["bep44"], [])

        r = p.cmd("ls --limit 5 key1*")
        self.assertEqual([i["key"] for i in r["items"]], ["key%03d" % i for i in range(100, 105)])
        self.assertEqual((r["items_matched"], r["more"]), (100, True))

        r = p.cmd("ls 'key?4[05]'")
        self.assertEqual([i["key"] for i in r["items"]],
                         [f"key{t}4{u}" for t in range(3) for u in (0, 5)])
        self.assertEqual((r["items_matched"], r["more"]), (6, False))

        r = p.cmd("ls other*")  # JSON keeps the whole value
        self.assertEqual([i["value"] for i in r["items"]], ["x" * 1000] * 3)
        self.assertEqual(p.cmd("ls nothing*")["items"], [])

        # Every item: one line each, then the summary.
        p.send("ls --limit all")
        lines = [p.json() for _ in range(254)]
        self.assertTrue(all(o["cmd"] == "ls" and o["partial"] for o in lines[:-1]), lines[0])
        self.assertEqual([o["item"]["key"] for o in lines[:-1]],
                         sorted(k.decode() for k, _ in items))
        self.assertEqual(lines[-1], {"cmd": "ls", "ok": True, "items_matched": 253,
                                     "bep44_matched": 0, "limit": 0, "more": False})
        p.send("ls --limit 0 other*")  # 0 is all, too
        self.assertEqual(p.json()["item"]["key"], "other0")
        self.assertEqual(p.json()["item"]["key"], "other1")
        self.assertEqual(p.json()["item"]["key"], "other2")
        self.assertEqual(p.json()["items_matched"], 3)

        # BEP 44 items: the pattern is on their target, the limit for each kind.
        target = p.cmd("bput hello world")["target"]  # alone: kept here only
        r = p.cmd("ls --limit 1 " + target[:3] + "*")
        self.assertEqual((r["items"], [i["target"] for i in r["bep44"]]), ([], [target]))
        self.assertEqual((r["items_matched"], r["bep44_matched"], r["more"]), (0, 1, False))
        r = p.cmd("ls --limit 1")
        self.assertEqual((len(r["items"]), len(r["bep44"]), r["more"]), (1, 1, True))
        p.send("ls --limit all " + target)
        self.assertEqual(p.json()["bep44_item"]["bencoded"], "11:hello world")
        self.assertEqual(p.json()["bep44_matched"], 1)

        for line in ["ls --limit x", "ls --limit -1", "ls --limit", "ls a b", "ls --all"]:
            r = p.cmd(line)
            self.assertFalse(r["ok"], line)
            self.assertEqual(r["code"], "bad_argument", line)
            self.assertIn("ls [--limit N|all] [--full] [PATTERN]", r["error"], line)
        self.assertIn("bad --limit 'x'", p.cmd("ls --limit x")["error"])
        self.assertEqual(p.cmd("help ls")["usage"], "ls [--limit N|all] [--full] [PATTERN]")

        # For a person: long values cut, and how many there are in all.
        p.kill()  # frees the state directory
        out = subprocess.run(
            [KADNODE, "--bind", "127.0.0.1:0", "--state-dir", os.path.join(self.tmp, "state"),
             "--exec", "ls --limit 2", "--exec", "ls other1", "--exec", "ls --limit all key24*",
             "--exec", "ls --full other2"]
            + NO_DISCOVERY, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()[1:]  # after "kadnode 0.1.0: node ... listening on ..."
        self.assertEqual(lines[0], "253 items, showing the first 2 (ls --limit N, or --limit all)")
        self.assertRegex(lines[1], r'^  "key000" = "value 0"  \(seq 0, expires in 5d23h\)$')
        # The bput above was journaled before it was acknowledged: the kill did not lose it.
        self.assertEqual(lines[3], "1 BEP 44 item")
        self.assertRegex(lines[4], r'^  %s  "hello world"  \(immutable, ' % target)
        self.assertEqual(lines[5], '1 item matches "other1" (of 253)')
        self.assertRegex(lines[6], r'^  "other1" = "x{60}"… \(1000 bytes\)  \(seq 0, expires in ')
        self.assertEqual(lines[7], '0 BEP 44 items match "other1" (of 1)')
        self.assertEqual(lines[8], '10 items match "key24*" (of 253)')
        self.assertEqual([l.split()[0] for l in lines[9:19]], ['"key24%d"' % i for i in range(10)])
        self.assertEqual(lines[19], '0 BEP 44 items match "key24*" (of 1)')
        self.assertRegex(lines[21], r'^  "other2" = "x{1000}"  \(seq 0, expires in ')

    @staticmethod
    def memory_kb(pid):
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}

    def peak_growth_kb(self, p, run):
        """How far above its resident size before `run` the node's peak went while it ran."""
        before = self.memory_kb(p.p.pid)["VmRSS"]
        with open(f"/proc/{p.p.pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM starts again from the current resident size
        run()
        return self.memory_kb(p.p.pid)["VmHWM"] - before

    def test_a_full_store_is_listed_in_bounded_memory(self):
        # 50,000 items of 1,000 bytes: 50 MB of values. Listing them all used to copy them into
        # one text and one JSON document, several times their size.
        n = 50000
        items = [(b"key%05d" % i, os.urandom(500).hex().encode()) for i in range(n)]
        p = self.ls_node(items, "--json")
        self.assertEqual(p.json(timeout=30)["event"], "ready")
        self.assertEqual(p.cmd("id", timeout=30)["items"], n)

        out = []
        growth = self.peak_growth_kb(p, lambda: out.append(p.cmd("ls", timeout=30)))
        self.assertLess(growth, 20 * 1024, f"ls grew the node by {growth} kB")
        self.assertEqual((len(out[0]["items"]), out[0]["items_matched"]), (100, n))

        def every_item():
            p.send("ls --limit all")
            for _ in range(n):
                self.assertIn("item", p.json(timeout=30))
            out.append(p.json(timeout=30))

        growth = self.peak_growth_kb(p, every_item)
        self.assertLess(growth, 20 * 1024, f"ls --limit all grew the node by {growth} kB")
        self.assertEqual(out[1]["items_matched"], n)


class Tmux:
    """A tmux server of the test's own, and the session SESSION in it, typed at as a person
    would (mixed into a Harness: TerminalTests here, test_cli.py's TerminalTests)."""

    SESSION = "kad"
    _servers = itertools.count()

    def setUp(self):
        super().setUp()
        if not shutil.which("tmux"):
            self.skipTest("tmux is not installed")
        # A server per test: the previous test's, killed in its tearDown, may still be going
        # away, and a session made on its socket then dies with it.
        self.sock = f"kadnode-e2e-{self.SESSION}-{os.getpid()}-{next(Tmux._servers)}"

    def tearDown(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        super().tearDown()

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), capture_output=True,
                              text=True, env=self.env, timeout=10)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", self.SESSION, "-S", "-200").stdout

    def wait_screen(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not on screen:\n{self.screen()}")

    def type(self, line):
        self.tmux("send-keys", "-t", self.SESSION, "-l", line)
        self.tmux("send-keys", "-t", self.SESSION, "Enter")


class TerminalTests(Tmux, Harness):
    """kadnode in a pseudo-terminal (tmux), typed at as a person would."""

    def terminal_joined(self):
        """A --json node, and kadnode at the terminal joined to it; returns (node, its ready)."""
        node, ready = self.start_json_node()
        cmd = " ".join([KADNODE, "--bind", "127.0.0.1:0", "--bootstrap-addr", ready["addr"]]
                       + NO_DISCOVERY)
        r = self.tmux("new-session", "-d", "-s", "kad", "-x", "160", "-y", "50", cmd)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_screen("joined the network")
        return node, ready

    def test_put_get_help_typed_at_the_prompt(self):
        prober, ready = self.terminal_joined()
        self.wait_screen("kad ")  # the prompt: "kad <short id>> "
        self.type("put greeting hello world")
        self.wait_screen('stored "greeting" = "hello world" (seq 0) on 1 node')
        self.type("get greeting")
        self.wait_screen('"hello world" (seq 0)')
        self.type("help")
        self.wait_screen("ln [--trace] <target-id>")
        # A command that completes at once must leave the node serving while a key is typed.
        import re
        port = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.screen()).group(1)
        self.tmux("send-keys", "-t", "kad", "-l", "x")
        r = prober.cmd(f"p 127.0.0.1:{port}")
        self.assertTrue(r["ok"], r)
        self.assertLess(r["rtt_ms"], 500)
        self.tmux("send-keys", "-t", "kad", "BSpace")
        self.type("nonsense")
        self.wait_screen("nonsense: unknown command 'nonsense'")
        # Tab completes a command.
        self.tmux("send-keys", "-t", "kad", "-l", "sta")
        self.tmux("send-keys", "-t", "kad", "Tab")
        self.tmux("send-keys", "-t", "kad", "Enter")
        self.wait_screen("packets_in")
        self.type("quit")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.tmux("has-session", "-t", "kad").returncode == 0:
            time.sleep(0.05)
        self.assertNotEqual(self.tmux("has-session", "-t", "kad").returncode, 0, "still running")
        with open(os.path.join(self.tmp, ".kadnode_history")) as f:
            history = f.read()
        self.assertIn("put greeting hello world", history)

    def test_ctrl_d_says_bye_as_quit_does_and_help_knows_exit(self):
        # The shell keeps the pane after kadnode exits, so its last lines can be read.
        cmd = " ".join([KADNODE, "--bind", "127.0.0.1:0"] + NO_DISCOVERY) + \
            "; echo exited $?; sleep 30"
        self.tmux("new-session", "-d", "-s", "kad", "-x", "160", "-y", "50", cmd)
        self.wait_screen("kad ")
        self.type("help exit")
        self.wait_screen("leave (also: exit, Ctrl-D)")
        self.type("rt")  # the last bucket's heading reads as words, not "0+ (0+ shared bits)"
        self.wait_screen("bucket 0 (0 or more shared bits): 0 contacts, 0 cached")
        self.tmux("send-keys", "-t", "kad", "C-d")
        s = self.wait_screen("exited 0")
        lines = [line for line in s.splitlines() if line.strip()]
        self.assertEqual(lines[-2], "bye", s)

    def test_tab_after_help_completes_commands_and_a_slip_is_named(self):
        cmd = " ".join([KADNODE, "--bind", "127.0.0.1:0"] + NO_DISCOVERY)
        self.tmux("new-session", "-d", "-s", "kad", "-x", "160", "-y", "50", cmd)
        self.wait_screen("kad ")
        # One match completes at once; several are listed at the second Tab.
        self.tmux("send-keys", "-t", "kad", "-l", "help boot")
        self.tmux("send-keys", "-t", "kad", "Tab")
        self.wait_screen("help bootstrap")
        self.tmux("send-keys", "-t", "kad", "Enter")
        self.wait_screen("usage: bootstrap <ip>:<port> [<id>]")
        self.tmux("send-keys", "-t", "kad", "-l", "help m")
        self.tmux("send-keys", "-t", "kad", "Tab")
        self.tmux("send-keys", "-t", "kad", "Tab")
        s = self.wait_screen("mget")
        self.assertIn("mput", s)
        self.tmux("send-keys", "-t", "kad", "C-u")
        # Names in any case; a slip names what it may have meant.
        self.type("PUT Colour blue")
        self.wait_screen('stored "Colour" = "blue"')
        self.type("Get Colour")
        self.wait_screen('"blue" (seq 0) from this node\'s own store')
        self.type("gte Colour")
        self.wait_screen("gte: unknown command 'gte'; did you mean 'get'? (type help for the list)")

    def test_ls_cuts_long_values_to_the_terminal_width_unless_full(self):
        for width in (80, 150):  # a session each, on one tmux server
            name = f"ls{width}"
            cmd = " ".join([KADNODE, "--bind", "127.0.0.1:0"] + NO_DISCOVERY)
            self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", "50", cmd)

            def screen(name=name):
                return self.tmux("capture-pane", "-p", "-J", "-t", name).stdout

            def wait(text, screen=screen):
                deadline = time.monotonic() + 10
                while text not in screen():
                    self.assertLess(time.monotonic(), deadline, f"{text!r} not on:\n{screen()}")
                    time.sleep(0.05)
                return screen()

            def type_line(line, name=name):
                self.tmux("send-keys", "-t", name, "-l", line)
                self.tmux("send-keys", "-t", name, "Enter")

            wait("kad ")
            type_line("put long " + "x" * 500)
            wait('stored "long"')
            type_line("ls long")
            s = wait("(500 bytes)")
            line = next(l for l in s.splitlines() if l.startswith('  "long" = '))
            self.assertLessEqual(len(line.rstrip()), width, s)
            self.assertGreater(len(line.rstrip()), width - 25, s)  # it uses the room there is
            type_line("ls --full long")
            wait('"' + "x" * 500 + '"')

    def test_watch_at_the_terminal_runs_until_ctrl_c(self):
        other, ready = self.terminal_joined()
        self.type("watch news")
        self.wait_screen('watching "news" (Ctrl-C to stop)')
        # The writer holds the key too, and took the watch's listen: it tells the watcher as it
        # keeps its own copy, before its store reaches the watcher's node.
        holder = f"told by its holder {ready['id'][:8]} ({ready['addr']})"
        self.wait_for_listen(other)
        self.assertTrue(other.cmd("put news hello")["ok"])
        self.wait_screen(f'"news" = "hello" (seq 0), {holder}')
        self.assertTrue(other.cmd("put news again")["ok"])
        self.wait_screen(f'"news" = "again" (seq 1), {holder}')
        self.tmux("send-keys", "-t", "kad", "C-c")
        self.wait_screen('stopped watching "news"')
        self.type("id")
        self.wait_screen("uptime")
        self.assertTrue(other.cmd("put news third")["ok"])
        time.sleep(0.5)
        self.assertNotIn('"third"', self.screen())

    def test_stats_by_section_and_unpublish_typed_at_the_prompt(self):
        other, ready = self.terminal_joined()
        self.type("put colour blue")
        self.wait_screen('stored "colour" = "blue" (seq 0) on 1 node')
        self.type("stats rpc")  # one section: its counters that are not zero, then what is not
        s = self.wait_screen("zeros not shown: stats --all rpc")
        self.assertRegex(s, r"responses_in +[1-9]")
        self.assertNotIn("packets_in", s)  # traffic's, not rpc's
        self.type("stats --all watch")  # every counter of the section, zeros too
        self.wait_screen("notifies_unanswered")
        self.type("unpublish colour")
        self.wait_screen('"colour" is no longer refreshed: it expires in 23h59m')
        self.type("unpublish colour")
        self.wait_screen('unpublish: "colour" is not published by this node')

    def test_ctrl_c_drops_the_typed_line_or_cancels_the_command_and_stays(self):
        # As bash and redis-cli do: Ctrl-C never leaves; Ctrl-D or quit does.
        cmd = " ".join([KADNODE, "--bind", "127.0.0.1:0", "--timeout-ms", "20000"]
                       + NO_DISCOVERY) + "; echo exited $?; sleep 30"
        self.tmux("new-session", "-d", "-s", "kad", "-x", "160", "-y", "50", cmd)
        self.wait_screen("kad ")
        self.tmux("send-keys", "-t", "kad", "-l", "get half-typed")
        self.wait_screen("get half-typed")
        self.tmux("send-keys", "-t", "kad", "C-c")
        s = self.wait_screen("get half-typed^C")
        lines = [line for line in s.splitlines() if line.strip()]
        self.assertTrue(lines[-1].startswith("kad ") and lines[-1].endswith(">"), s)
        # The line is gone: Enter on it runs nothing.
        self.tmux("send-keys", "-t", "kad", "Enter")
        self.type("id")
        self.wait_screen("uptime")
        self.assertNotIn("get:", self.screen())  # the dropped line did not run
        # A probe that would wait 20 s for a dead node: Ctrl-C cancels it at once.
        self.type("p 127.0.0.1:9")
        time.sleep(0.3)
        t0 = time.monotonic()
        self.tmux("send-keys", "-t", "kad", "C-c")
        self.wait_screen("p: cancelled", timeout=3)
        self.assertLess(time.monotonic() - t0, 2)
        self.type("rt")
        self.wait_screen("0 contacts in 1 bucket")
        self.assertNotIn("exited", self.screen())
        self.type("quit")
        self.wait_screen("exited 0")

    def test_asynchronous_lines_keep_the_typed_line(self):
        # A slow bootstrap (to a node that does not answer) ends while a line is half typed.
        cmd = " ".join([KADNODE, "--bind", "127.0.0.1:0", "--timeout-ms", "1500",
                        "--bootstrap-addr", "127.0.0.1:9"] + NO_DISCOVERY)
        self.tmux("new-session", "-d", "-s", "kad", "-x", "160", "-y", "50", cmd)
        self.wait_screen("kad ")
        self.tmux("send-keys", "-t", "kad", "-l", "get half-typed")
        s = self.wait_screen("bootstrap failed", timeout=10)
        self.assertEqual(s.count("bootstrap failed"), 1, s)  # the event, not a log line too
        last = [l for l in s.splitlines() if l.strip()][-1]
        self.assertTrue(last.startswith("kad ") and last.endswith("get half-typed"), s)
        self.tmux("send-keys", "-t", "kad", "Enter")
        self.wait_screen("get: not found")


if __name__ == "__main__":
    KADNODE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""End-to-end tests of LAN discovery: real kadnode processes in network namespaces that each
test creates and deletes (never multicast in the machine's own namespace).

Needs root and iproute2. Run: test_discovery.py PATH/TO/kadnode [unittest args].
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kadnode as base  # noqa: E402  (Proc: a process with its stdout in a queue)

KADNODE = None


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check,
                          timeout=20)


class Lab(unittest.TestCase):
    """Creates namespaces named kadtest-<pid>-<name> and removes them, with their processes."""

    def setUp(self):
        if not shutil.which("ip"):
            self.skipTest("iproute2 (ip) is not installed")
        self.prefix = f"kadtest-{os.getpid()}-"
        self.namespaces = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="kadnode-lan-")
        # Nothing of the runner's kadnode settings, nor systemd's RUNTIME_DIRECTORY (every node
        # would take the one control socket there).
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("KADNODE_") and k != "RUNTIME_DIRECTORY"}
        self.env["HOME"] = self.tmp
        base.KADNODE = KADNODE
        # A cleanup, not tearDown: it runs even when a subclass's setUp fails after making a
        # namespace or starting a process.
        self.addCleanup(self.remove_all)

    def remove_all(self):
        for p in self.procs:
            p.kill()
        for ns in reversed(self.namespaces):
            ip("netns", "del", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def netns(self, name):
        ns = self.prefix + name
        r = ip("netns", "add", ns, check=False)
        if r.returncode != 0:
            self.skipTest(f"cannot create a network namespace: {r.stderr.strip()}")
        self.namespaces.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")
        # Link-local IPv6 addresses usable at once, without duplicate address detection.
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                        "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"],
                       capture_output=True, timeout=20)
        return ns

    def one_lan(self):
        """One namespace: loopback only, with a route for multicast on it."""
        ns = self.netns("lan")
        ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")
        return ns

    def hosts(self, n, v4=True):
        """n namespaces, each with a veth into a namespace holding a bridge: one LAN. Without
        v4, the hosts have only their IPv6 link-local addresses."""
        br = self.netns("br")
        ip("-n", br, "link", "add", "br0", "type", "bridge")
        ip("-n", br, "link", "set", "br0", "up")
        out = []
        for i in range(1, n + 1):
            h = self.netns(f"h{i}")
            ip("-n", br, "link", "add", f"vb{i}", "type", "veth", "peer", "name", "eth0",
               "netns", h)
            ip("-n", br, "link", "set", f"vb{i}", "master", "br0")
            ip("-n", br, "link", "set", f"vb{i}", "up")
            if v4:
                ip("-n", h, "addr", "add", f"10.99.0.{i}/24", "dev", "eth0")
            ip("-n", h, "link", "set", "eth0", "up")
            if v4:
                ip("-n", h, "route", "add", "224.0.0.0/4", "dev", "eth0")
            out.append((h, f"10.99.0.{i}"))
        return out

    def node(self, ns, *args):
        """A kadnode with --json, commands on stdin, in namespace ns; waits for 'ready'."""
        p = base.Proc(["--json"] + list(args), env=self.env, prefix=["ip", "netns", "exec", ns])
        self.procs.append(p)
        ready = p.json()
        self.assertEqual(ready["event"], "ready")
        return p, ready

    def wait_until(self, what, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return time.monotonic()
            time.sleep(0.05)
        self.fail(f"{what}: not within {timeout} s")

    @staticmethod
    def view(p):
        r = p.cmd("peers")
        return {x["id"] for x in r["peers"]}, r["fingerprint"]

    def converged(self, nodes):
        ids = {r["id"] for _, r in nodes}
        fps = set()
        for p, r in nodes:
            view, fp = self.view(p)
            if view != ids - {r["id"]}:
                return False
            fps.add(fp)
        return len(fps) == 1


class DiscoveryTests(Lab):
    def test_five_nodes_in_one_namespace_find_each_other_within_3s(self):
        ns = self.one_lan()
        t0 = time.monotonic()
        nodes = [self.node(ns) for _ in range(5)]  # no flags at all
        ids = {r["id"] for _, r in nodes}

        def tables_full():
            for p, r in nodes:
                rt = p.cmd("rt")
                have = {c["id"] for b in rt["buckets"] for c in b["contacts"]}
                if have != ids - {r["id"]}:
                    return False
            return self.converged(nodes)

        done = self.wait_until("5 nodes converged", tables_full, 3 - (time.monotonic() - t0) + 0.5)
        self.assertLess(done - t0, 3.5)
        put = nodes[0][0].cmd("put lan 'found by multicast'")
        self.assertTrue(put["ok"], put)
        self.assertEqual(put["stored"], 4)
        got = nodes[3][0].cmd("get lan")
        self.assertEqual(got.get("value"), "found by multicast", got)

    def test_fifty_nodes_converge_within_10s(self):
        # The LAN demo does it: 50 nodes with no flags, in a namespace of its own.
        demo = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "tools", "lan-demo")
        p = subprocess.run([demo, "50", "--json", "--timeout", "30", "--kadnode", KADNODE],
                           capture_output=True, text=True, timeout=120, env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        r = json.loads(p.stdout)
        self.assertEqual(r["got"], "hello, LAN")
        self.assertLess(r["converged_s"], 10)

    def test_three_hosts_join_leave_and_crash(self):
        hosts = self.hosts(3)
        nodes = [self.node(h, "--discovery-interval", "1") for h, _ in hosts]
        for p, _ in nodes:  # no flags at all, yet each one joins
            joined = p.wait_for(lambda o: o.get("event") == "joined", timeout=10)
            self.assertTrue(joined["ok"], joined)
        self.wait_until("3 hosts converged", lambda: self.converged(nodes), 5)
        # Peers are reached at their host's address.
        view = nodes[0][0].cmd("peers")["peers"]
        self.assertEqual(sorted(x["addr"].split(":")[0] for x in view), ["10.99.0.2", "10.99.0.3"])

        self.assertTrue(nodes[1][0].cmd("put across 'the bridge'")["ok"])
        self.assertEqual(nodes[2][0].cmd("get across")["value"], "the bridge")

        # A clean stop: gone from every view within a second.
        stopped = nodes[1]
        stopped[0].p.send_signal(signal.SIGTERM)
        self.assertEqual(stopped[0].wait(5), 0)
        t0 = time.monotonic()
        rest = [nodes[0], nodes[2]]
        self.wait_until("clean leave seen", lambda: all(
            stopped[1]["id"] not in self.view(p)[0] for p, _ in rest), 1)
        self.assertLess(time.monotonic() - t0, 1)
        self.assertTrue(self.converged(rest))

        # kill -9: gone within 3 intervals (1 s each, with up to 25% jitter).
        killed = nodes[2]
        os.killpg(killed[0].p.pid, signal.SIGKILL)
        killed[0].p.wait(5)
        t0 = time.monotonic()
        self.wait_until("silent peer expired",
                        lambda: killed[1]["id"] not in self.view(nodes[0][0])[0], 5)
        self.assertLess(time.monotonic() - t0, 3 * 1.25 + 0.5)
        self.assertTrue(self.converged([nodes[0]]))

    def test_networks_do_not_mix_and_keys_keep_strangers_out(self):
        hosts = self.hosts(3)
        a1, _ = self.node(hosts[0][0], "--network", "A", "--discovery-interval", "1")
        a2, ra2 = self.node(hosts[1][0], "--network", "A", "--discovery-interval", "1")
        b1, _ = self.node(hosts[2][0], "--network", "B", "--discovery-interval", "1")
        self.wait_until("A nodes found each other", lambda: len(self.view(a1)[0]) == 1, 5)
        time.sleep(2.5)  # more than two intervals: B had every chance to be seen
        self.assertEqual(self.view(a1)[0], {ra2["id"]})
        self.assertEqual(self.view(b1)[0], set())
        self.assertGreater(b1.cmd("stats")["lan_other_network"], 0)

        key = os.path.join(self.tmp, "lan.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        other = os.path.join(self.tmp, "other.key")
        with open(other, "wb") as f:
            f.write(os.urandom(32))
        for p in (a1, a2, b1):
            p.kill()
        k1, rk1 = self.node(hosts[0][0], "--discovery-key", key, "--discovery-interval", "1")
        k2, rk2 = self.node(hosts[1][0], "--discovery-key", key, "--discovery-interval", "1")
        u, _ = self.node(hosts[2][0], "--discovery-interval", "1")
        x, _ = self.node(hosts[2][0], "--discovery-key", other, "--discovery-interval", "1")
        self.wait_until("keyed nodes found each other", lambda: self.view(k1)[0] == {rk2["id"]}, 5)
        time.sleep(2.5)
        self.assertEqual(self.view(k1)[0], {rk2["id"]})
        self.assertEqual(self.view(k2)[0], {rk1["id"]})
        self.assertEqual(self.view(u)[0], set())
        self.assertEqual(self.view(x)[0], set())
        s = k1.cmd("stats")
        self.assertGreater(s["lan_unsigned_dropped"], 0)
        self.assertGreater(s["lan_bad_signature"], 0)

    def test_ipv6_link_local_discovery(self):
        hosts = self.hosts(2, v4=False)  # IPv6 link-local only: the ff02:: group or nothing
        n1, r1 = self.node(hosts[0][0], "--bind", "[::]:0", "--discovery-interval", "1",
                           "--discovery-interface", "eth0")
        n2, r2 = self.node(hosts[1][0], "--bind", "[::]:0", "--discovery-interval", "1",
                           "--discovery-interface", "eth0")
        self.wait_until("IPv6 nodes found each other",
                        lambda: self.view(n1)[0] == {r2["id"]} and self.view(n2)[0] == {r1["id"]},
                        6)
        addr = n1.cmd("peers")["peers"][0]["addr"]
        self.assertTrue(addr.startswith("[fe80::") and "%" in addr, addr)
        self.assertTrue(n1.cmd("put six 'over ff02::'")["ok"])
        self.assertEqual(n2.cmd("get six")["value"], "over ff02::")

    def test_exec_waits_for_the_first_peer_or_the_join_timeout(self):
        ns = self.one_lan()
        first, _ = self.node(ns, "--discovery-interval", "1")
        t0 = time.monotonic()
        p = subprocess.run(["ip", "netns", "exec", ns, KADNODE, "--json", "--exec", "ln " + "0" * 40],
                           capture_output=True, text=True, timeout=30, env=self.env,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        out = [json.loads(line) for line in p.stdout.splitlines()]
        kinds = [o.get("event") or o.get("cmd") for o in out]
        self.assertIn("peer_joined", kinds)
        self.assertLess(kinds.index("joined"), kinds.index("ln"))
        ln = out[kinds.index("ln")]
        self.assertTrue(ln["ok"], ln)
        self.assertEqual(len(ln["nodes"]), 1)
        self.assertLess(time.monotonic() - t0, 4)

        # Alone on a LAN, the script runs after --join-timeout.
        lonely = self.netns("alone")
        t0 = time.monotonic()
        p = subprocess.run(["ip", "netns", "exec", lonely, KADNODE, "--json", "--join-timeout",
                            "1", "--exec", "id"], capture_output=True, text=True, timeout=30,
                           env=self.env, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 1)
        self.assertLess(elapsed, 4)
        self.assertIn('"note":"no peer found on the LAN within 1 s"', p.stdout)


if __name__ == "__main__":
    KADNODE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""Fault injection with real processes: the schedules of tests/test_sim_faults.cpp, run against
kadnode processes in network namespaces joined by a userspace impairment wire (wire.py: this
kernel has no sch_netem).

Six hosts (namespaces kadtest-<pid>-h1..h6, 10.77.0.1..6 on a TUN each), one kadnode on each with
--state-dir. A seeded schedule of short phases, each with one fault: a burst of loss, a partition
(a third of the hosts cut off, healed at the next phase), duplication with reordering, delay,
kill -9 of 1-2 nodes (restarted at the next phase from their state directory, with no bootstrap
flag), or a blackout (every node killed the moment a put is acknowledged, then all restarted). A
few puts a phase, each with a key of its own, from random live nodes; a put is acknowledged when
its reply says ok and stored > 0 (the sim's rule). At the end: calm, heal, restart, wait for the
nodes to join, and get every acknowledged key from a random node.

Invariants: no acknowledged put lost or read back wrong; no kadnode exits unless the test killed
it (checked after every phase); every node's peak resident memory (VmHWM, read after every
phase) stays under RSS_BOUND_KB; at the end no lookup is left running.

The seed reproduces the schedule (which faults, when, which nodes, which keys), not the run: real
processes, real time and the kernel's scheduling make each run differ.

  KAD_REAL_FAULT_SEED=N     the first schedule's seed (default: from the clock; printed)
  KAD_REAL_FAULT_ROUNDS=N   schedules to run (default 1; tools/faults --real N)
  KAD_REAL_FAULT_VERBOSE=1  print what happens as it happens (every put's reply, and the
                            putter's routing table and counters when a put is not acknowledged)
  KAD_REAL_FAULT_LOG=DIR    each node's debug log in DIR/hN.log (appended across restarts)

Needs root, iproute2 and /dev/net/tun; skips otherwise. Run:
test_faults.py PATH/TO/kadnode [unittest args].
"""

import json
import os
import queue
import random
import shutil
import signal
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kadnode as base  # noqa: E402  (Proc: kadnode with --json, commands on stdin)
import test_discovery as lab  # noqa: E402  (Lab: namespaces made and removed by each test)
import wire  # noqa: E402

KADNODE = None

HOSTS = 6
PHASES = 12          # two of each kind of fault, in a random order
PHASE_S = 3.0        # seconds a fault lasts (longer when a put takes longer)
PUTS_PER_PHASE = 3
PORT = 6881
CALM = wire.Model(delay=0.005, jitter=0.005)  # a LAN: 5-10 ms one way
PUT_TIMEOUT_S = 60   # a put not answered by then is a stuck operation: the run fails
TABLES_S = 10        # at the end, how long to wait for complete routing tables (not required)
KINDS = ("loss", "partition", "duplication", "delay", "kill", "blackout")

# Peak resident memory (VmHWM) of one kadnode, in kB. Measured on this machine: 9.6 MB right
# after start, at most 9.9 MB through a schedule (a few dozen items, five contacts): the binary,
# its libraries and buffers, hardly the data. The bound is over 3x that, so that a leak or a queue
# that grows without end trips it, not an allocator's or a library's variation between machines.
RSS_BOUND_KB = 32 * 1024


def peak_rss_kb(pid):
    """The process's peak resident size so far (VmHWM), so that a peak between two samples
    counts too."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Node(base.Proc):
    """A kadnode that remembers its "joined" event, whenever it is read."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.joined = None

    def json(self, timeout=10):
        obj = super().json(timeout)
        if obj.get("event") == "joined":
            self.joined = obj
        return obj

    def drain(self):
        """Reads the lines already printed (events) without waiting; only between commands."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self.lines.put(None)  # stdout closed: the next read reports it
                return
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("event") == "joined":
                self.joined = obj

    def wait_joined(self, timeout):
        self.drain()
        if self.joined is None:
            self.wait_for(lambda o: o.get("event") == "joined", timeout)
        return self.joined


class Host:
    def __init__(self, index, ns, addr, state_dir):
        self.index, self.ns, self.addr, self.state_dir = index, ns, addr, state_dir
        self.node = None   # the running Node, or None when killed by the test
        self.id = None
        self.pid = None    # the kadnode process itself (for /proc/<pid>/status)
        self.max_rss_kb = 0

    @property
    def name(self):
        return f"h{self.index}"


class Totals:
    def __init__(self):
        self.schedules = 0
        self.phases = 0
        self.faults = dict.fromkeys(KINDS, 0)
        self.kills = self.restarts = 0
        self.puts = self.acked = self.lost = self.wrong = 0
        self.remote_reads = 0  # gets answered by another node than the one asked
        self.tables_incomplete = 0  # schedules whose routing tables were not complete at the end
        self.max_rss_kb = {}   # host name -> kB


class WireLab(lab.Lab):
    """Namespaces kadtest-<pid>-h1.. joined by a Wire; skips without root, ip or a TUN."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (network namespaces, TUN devices)")
        if not shutil.which("ip"):
            self.skipTest("iproute2 (ip) is not installed")
        if not os.path.exists("/dev/net/tun"):
            self.skipTest("no /dev/net/tun")
        lab.KADNODE = KADNODE
        super().setUp()
        self.wire = None

    def tearDown(self):
        try:
            for p in self.procs:
                p.kill()
            if self.wire:
                self.wire.stop()
        finally:
            super().tearDown()  # (Lab's cleanup deletes the namespaces afterwards)

    def build(self, n, seed, model):
        """n hosts h1..hn on a wire; returns [(namespace, address)]."""
        self.wire = wire.Wire(seed, model)
        out = []
        for i in range(1, n + 1):
            ns = self.netns(f"h{i}")
            try:
                addr = self.wire.add_host(i, ns)
            except OSError as e:
                self.skipTest(f"cannot make a TUN device in a namespace: {e}")
            out.append((ns, addr))
        self.wire.start()
        return out


class WireTests(WireLab):
    """The wire does what the figures say it does."""

    def test_delay_loss_duplication_reordering_and_partitions(self):
        (ns1, a1), (ns2, a2) = self.build(2, 1, wire.Model())
        tx = wire.socket_in(ns1, socket.AF_INET, socket.SOCK_DGRAM)
        rx = wire.socket_in(ns2, socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(tx.close)
        self.addCleanup(rx.close)
        tx.bind((a1, 9000))
        rx.bind((a2, 9000))
        rx.settimeout(0.5)
        # A burst is read after it is sent: room for all of it (root may pass rmem_max).
        rx.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)

        def burst(model, n=200):
            """n numbered datagrams 1 ms apart under model: (numbers received, latencies)."""
            self.wire.set_model(model)
            for i in range(n):
                tx.sendto(struct.pack("!Id", i, time.monotonic()), (a2, 9000))
                time.sleep(0.001)
            got, late = [], []
            try:
                while True:
                    i, sent = struct.unpack("!Id", rx.recv(64))
                    got.append(i)
                    late.append(time.monotonic() - sent)
            except socket.timeout:
                pass
            return got, late

        got, _ = burst(wire.Model())
        self.assertEqual(got, list(range(200)))  # no model: all, in order
        before = self.wire.counters()
        got, _ = burst(wire.Model(loss=0.5))
        self.assertTrue(60 < len(got) < 140, len(got))
        self.assertEqual(self.wire.counters()["lost"] - before["lost"], 200 - len(got))
        got, _ = burst(wire.Model(duplicate=0.5))
        self.assertTrue(260 < len(got) < 340, (len(got), self.wire.counters(), before))
        self.assertEqual(sorted(set(got)), list(range(200)))
        got, late = burst(wire.Model(delay=0.1))
        self.assertEqual(len(got), 200)
        self.assertGreaterEqual(min(late), 0.1)
        got, _ = burst(wire.Model(jitter=0.05))
        self.assertEqual(sorted(got), list(range(200)))
        self.assertNotEqual(got, list(range(200)))  # reordered
        before = self.wire.counters()
        self.wire.partition({2})
        got, _ = burst(wire.Model())
        self.assertEqual(got, [])
        self.assertEqual(self.wire.counters()["partitioned"] - before["partitioned"], 200)
        self.wire.heal()
        got, _ = burst(wire.Model())
        self.assertEqual(len(got), 200)


class FaultTests(WireLab):
    def setUp(self):
        super().setUp()
        self.log = []

    # The lab.

    def say(self, text):
        line = f"[{time.monotonic() - self.t0:6.1f}s] {text}"
        self.log.append(line)
        if os.environ.get("KAD_REAL_FAULT_VERBOSE"):
            print(line, flush=True)

    def start_node(self, host, bootstrap=None):
        args = ["--bind", f"{host.addr}:{PORT}", "--no-discovery", "--json",
                "--state-dir", host.state_dir]
        if bootstrap:
            args += ["--bootstrap-addr", bootstrap]
        if os.environ.get("KAD_REAL_FAULT_LOG"):  # a directory: each node's debug log there
            args += ["--log-level", "debug", "--log-file",
                     os.path.join(os.environ["KAD_REAL_FAULT_LOG"], f"{host.name}.log")]
        p = Node(args, env=self.env, prefix=["ip", "netns", "exec", host.ns])
        self.procs.append(p)
        ready = p.json(timeout=15)
        self.assertEqual(ready.get("event"), "ready", ready)
        if host.id is not None:  # a restart: the same identity, from the state directory
            self.assertEqual(ready["id"], host.id, f"{host.name} came back with another ID")
        host.id = ready["id"]
        self.assertEqual(ready["addr"], f"{host.addr}:{PORT}")
        host.node = p
        host.pid = self.kadnode_pid(p)
        return p

    def kadnode_pid(self, p):
        """`ip netns exec` execs the command in place: the pid is kadnode's own. Checked, so
        that memory is never sampled from a wrapper."""
        exe = os.readlink(f"/proc/{p.p.pid}/exe")
        self.assertEqual(os.path.basename(exe), os.path.basename(KADNODE),
                         f"pid {p.p.pid} is {exe}, not kadnode")
        return p.p.pid

    def kill(self, host, totals, fault=True):
        p = host.node
        os.killpg(p.p.pid, signal.SIGKILL)
        p.p.wait(5)
        host.node = None
        host.pid = None
        totals.kills += fault

    def restart(self, host, totals):
        self.start_node(host)  # no bootstrap flag: the ID, port and contacts are saved
        totals.restarts += 1

    def check_alive(self, hosts, when):
        """No crash: every node the test did not kill is still running (and the wire too)."""
        if self.wire.error:
            raise self.wire.error
        for h in hosts:
            if h.node is None:
                continue
            status = h.node.p.poll()
            if status is not None:
                tail = "\n".join(l for l in h.node.stderr_lines[-20:] if l)
                self.fail(f"{h.name}'s kadnode exited by itself ({when}), status {status}; "
                          f"stderr tail:\n{tail}\n" + self.history())

    def sample_memory(self, hosts):
        for h in hosts:
            if h.pid is None:
                continue
            try:
                kb = peak_rss_kb(h.pid)
            except FileNotFoundError:
                continue  # check_alive reports it
            h.max_rss_kb = max(h.max_rss_kb, kb)
            self.assertLess(kb, RSS_BOUND_KB, f"{h.name}: VmHWM {kb} kB\n" + self.history())

    def history(self):
        return "what happened:\n" + "\n".join(self.log[-200:])

    def put(self, host, key, value, acked, totals):
        """Sends a put; returns a function that waits for the reply and records it."""
        p = host.node
        p.send(f"put {key} {value}")
        totals.puts += 1

        def reply():
            r = p.wait_for(lambda o: "cmd" in o and not o.get("partial"), PUT_TIMEOUT_S)
            ok = r.get("ok") and r.get("stored", 0) > 0
            if ok:
                acked[key] = value
                totals.acked += 1
            self.say(f"put {key} from {host.name}: "
                     + (f"acknowledged, stored on {r['stored']}" if ok else
                        f"not acknowledged ({r.get('code') or r.get('stored')})")
                     + (f" {json.dumps(r)}" if os.environ.get("KAD_REAL_FAULT_VERBOSE") else ""))
            if not ok and os.environ.get("KAD_REAL_FAULT_VERBOSE"):
                self.say(f"  {host.name} rt: " + json.dumps(p.cmd("rt")))
                self.say(f"  {host.name} stats: " + json.dumps(p.cmd("stats")))
            return ok
        return reply

    # The schedule.

    def run_schedule(self, seed, totals):
        rng = random.Random(seed)
        self.say(f"schedule seed {seed}")
        hosts = self.hosts_
        self.wire.set_model(CALM)
        self.wire.heal()
        for h in hosts:
            h.state_dir = os.path.join(self.tmp, f"s{seed}-{h.name}")
            h.id = None
        first = hosts[0]
        self.start_node(first)
        for h in hosts[1:]:
            self.start_node(h, bootstrap=f"{first.addr}:{PORT}")
        for h in hosts[1:]:
            joined = h.node.wait_joined(15)
            self.assertTrue(joined["ok"], joined)

        acked = {}
        kinds = []
        while len(kinds) < PHASES:
            bag = list(KINDS)
            rng.shuffle(bag)
            kinds += bag
        next_key = 0
        to_restart = []

        def live():
            return [h for h in hosts if h.node is not None]

        def usable():  # running and joined: commands are queued until a restarted node joins
            out = []
            for h in live():
                h.node.drain()
                if h.node.joined is not None:
                    out.append(h)
            return out or live()

        for phase, kind in enumerate(kinds[:PHASES]):
            # Put back what the last phase broke.
            self.wire.set_model(CALM)
            self.wire.heal()
            for h in to_restart:
                self.restart(h, totals)
                self.say(f"restart {h.name}")
            to_restart = []
            totals.faults[kind] += 1
            totals.phases += 1
            victims = []
            kill_during_put = False
            if kind == "loss":
                m = wire.Model(CALM.delay, CALM.jitter, loss=rng.uniform(0.10, 0.40))
                self.wire.set_model(m)
            elif kind == "partition":
                cut = rng.sample([h.index for h in hosts], max(1, round(HOSTS / 3)))
                self.wire.partition(set(cut))
                m = f"hosts {sorted(cut)} cut off"
            elif kind == "duplication":
                m = wire.Model(CALM.delay, rng.uniform(0.1, 0.3),
                               duplicate=rng.uniform(0.2, 0.3))
                self.wire.set_model(m)
            elif kind == "delay":
                m = wire.Model(rng.uniform(0.05, 0.2), CALM.jitter)
                self.wire.set_model(m)
            elif kind == "kill":
                victims = rng.sample(live(), min(len(live()) - 1, 1 + rng.randrange(2)))
                # Half the time the nodes die while a put is on its way to them.
                kill_during_put = rng.random() < 0.5
                m = f"kill -9 of {[v.name for v in victims]}" + (
                    " during a put" if kill_during_put else "")
            else:
                m = "every node killed after a put is acknowledged"
            self.say(f"phase {phase}: {kind}: {m}")
            if kind == "kill" and not kill_during_put:
                for v in victims:
                    self.kill(v, totals)
            for n in range(PUTS_PER_PHASE):
                candidates = ([h for h in usable() if h not in victims] or
                              [h for h in live() if h not in victims])
                source = candidates[rng.randrange(len(candidates))]
                key = f"s{seed}k{next_key}"
                next_key += 1
                value = f"value-of-{key}-from-{source.name}"
                reply = self.put(source, key, value, acked, totals)
                if n == 0 and kill_during_put:
                    time.sleep(rng.uniform(0, 0.05))
                    for v in victims:
                        self.kill(v, totals)
                ok = reply()
                if n == 0 and kind == "blackout":
                    if ok:  # the whole network loses power the moment the put is acknowledged
                        for h in live():
                            self.kill(h, totals)
                        self.say("blackout: every node killed")
                        time.sleep(0.5)
                        for h in hosts:
                            self.restart(h, totals)
                        for h in hosts:
                            h.node.wait_joined(15)
                        self.say("blackout: every node restarted and joined")
                    else:
                        self.say("blackout skipped: the put was not acknowledged")
                time.sleep(PHASE_S / (PUTS_PER_PHASE + 1))
            time.sleep(PHASE_S / (PUTS_PER_PHASE + 1))
            to_restart = victims
            self.check_alive(hosts, f"after phase {phase}")
            self.say(f"tables after phase {phase} (answering+failing): " + ", ".join(
                f"{h.name} %d+%d" % self.table(h) for h in usable() if h.node.joined is not None))
            self.sample_memory(hosts)

        # Heal everything, bring every node back and let them join.
        self.wire.set_model(CALM)
        self.wire.heal()
        for h in hosts:
            if h.node is None:
                self.restart(h, totals)
                self.say(f"restart {h.name}")
        for h in hosts:
            joined = h.node.wait_joined(15)
            self.assertTrue(joined["ok"], joined)
        # Not an invariant: a contact failing after a partition answers again at its next recheck
        # (within 5 minutes), or sooner when the other side asks, which may not happen here.
        t = time.monotonic()
        converged = self.wait_tables(hosts, TABLES_S)
        self.say("healed; routing tables " + (
            f"complete after {time.monotonic() - t:.1f} s" if converged else
            f"still incomplete after {TABLES_S} s: " + ", ".join(
                f"{h.name} knows " + " ".join(sorted(
                    c["addr"].split(":")[0].split(".")[-1] + ("?" if c["failures"] else "")
                    for b in h.node.cmd("rt")["buckets"] for c in b["contacts"]))
                for h in hosts)))
        totals.tables_incomplete += not converged

        lost, wrong = [], []
        for key, value in acked.items():
            h = hosts[rng.randrange(len(hosts))]
            g = h.node.cmd(f"get {key}", timeout=PUT_TIMEOUT_S)
            if not g.get("ok"):
                lost.append(f"{key} asked from {h.name}: {g.get('error')}")
            elif g.get("value") != value:
                wrong.append(f"{key} from {h.name}: {g.get('value')!r}, not {value!r}")
            elif g.get("from", {}).get("id") != h.id:
                totals.remote_reads += 1
        # Nothing stuck: with no new work, every lookup a node started ends (as the sim checks).
        t = time.monotonic()
        for h in hosts:
            deadline = time.monotonic() + 30
            while True:
                st = h.node.cmd("stats")
                if st["lookups_started"] == st["lookups_done"]:
                    break
                self.assertLess(time.monotonic(), deadline,
                                f"{h.name}: lookups still running: {st['lookups_started']} "
                                f"started, {st['lookups_done']} done\n" + self.history())
                time.sleep(0.2)
        self.say(f"read {len(acked)} keys: {len(lost)} lost, {len(wrong)} wrong; no lookup "
                 f"running after {time.monotonic() - t:.1f} s")
        self.check_alive(hosts, "at the end")
        self.sample_memory(hosts)
        totals.lost += len(lost)
        totals.wrong += len(wrong)
        totals.schedules += 1
        for h in hosts:
            totals.max_rss_kb[h.name] = max(totals.max_rss_kb.get(h.name, 0), h.max_rss_kb)
            h.max_rss_kb = 0
        for h in live():
            self.kill(h, totals, fault=False)  # the end of the schedule
        detail = f"seed {seed} (KAD_REAL_FAULT_SEED={seed} reproduces the schedule)\n"
        self.assertGreater(len(acked), 0, detail + self.history())
        self.assertEqual(lost, [], detail + "\n".join(lost) + "\n" + self.history())
        self.assertEqual(wrong, [], detail + "\n".join(wrong) + "\n" + self.history())

    @staticmethod
    def table(host):
        """(contacts answering, contacts failing) in the host's routing table."""
        contacts = [c for b in host.node.cmd("rt")["buckets"] for c in b["contacts"]]
        answering = sum(1 for c in contacts if c["failures"] == 0)
        return answering, len(contacts) - answering

    def wait_tables(self, hosts, timeout):
        """Until every node has every other one in its routing table, answering: a failing
        contact stays there while nothing replaces it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.table(h)[0] >= HOSTS - 1 for h in hosts):
                return True
            time.sleep(0.2)
        return False

    def test_random_fault_schedules_lose_nothing_acknowledged(self):
        self.t0 = time.monotonic()
        first = int(os.environ.get("KAD_REAL_FAULT_SEED") or int(time.time()) % 1000000)
        rounds = int(os.environ.get("KAD_REAL_FAULT_ROUNDS") or 1)
        print(f"\nreal fault schedules: seeds {first}..{first + rounds - 1} "
              f"(KAD_REAL_FAULT_SEED={first} reproduces the schedules, not the timing)",
              flush=True)
        self.hosts_ = [Host(i + 1, ns, addr, None)
                       for i, (ns, addr) in enumerate(self.build(HOSTS, first, CALM))]
        totals = Totals()
        for seed in range(first, first + rounds):
            self.run_schedule(seed, totals)
            if self.wire.error:
                raise self.wire.error
        c = self.wire.counters()
        f = totals.faults
        print(f"real fault schedules: {totals.schedules} schedules, {totals.phases} phases "
              f"(loss bursts {f['loss']}, partitions {f['partition']}, duplication "
              f"{f['duplication']}, delay {f['delay']}, kill -9 {f['kill']}, blackouts "
              f"{f['blackout']}); kills {totals.kills}, restarts {totals.restarts}; puts "
              f"acknowledged {totals.acked} of {totals.puts}, lost {totals.lost}, wrong "
              f"{totals.wrong} ({totals.remote_reads} read from another node; routing tables "
              f"incomplete at the end of {totals.tables_incomplete}); wire: packets "
              f"forwarded {c['forwarded']}, lost {c['lost']}, duplicated {c['duplicated']}, "
              f"partitioned {c['partitioned']}, overflow {c['overflow']}; peak RSS per node "
              + ", ".join(f"{n} {kb} kB" for n, kb in sorted(totals.max_rss_kb.items()))
              + f" (bound {RSS_BOUND_KB} kB); {time.monotonic() - self.t0:.0f} s", flush=True)


if __name__ == "__main__":
    KADNODE = os.path.abspath(sys.argv.pop(1))
    base.KADNODE = KADNODE
    unittest.main(verbosity=2)

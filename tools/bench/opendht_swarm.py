#!/usr/bin/python3
"""The kadswarm workload on OpenDHT, through Debian's python3-opendht.

N OpenDHT nodes (DhtRunner, IPv4 on 127.0.0.1, rate limits off) in this one process, each
bootstrapped off a random node started before it; then M puts of distinct keys from random nodes
and M gets of them from other random nodes, C in flight. Prints one JSON object with the fields
kadswarm --bench prints, so tools/bench/compare can set them side by side.

Run it with /usr/bin/python3: Debian's Python modules load only there.
"""

import argparse
import ctypes
import json
import os
import random
import subprocess
import sys
import threading
import time

try:
    import opendht
except ImportError:
    sys.exit("opendht_swarm: no opendht module (apt-get install python3-opendht; use /usr/bin/python3)")


def rss_kb():
    """Resident anonymous memory, as kadswarm counts it: not code and libraries."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def cpu_s():
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def opendht_version():
    """The python3-opendht package's version (the module has no __version__)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "python3-opendht"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    rank = p / 100.0 * (len(v) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)


class Window:
    """At most `size` operations in flight; wait() returns when all have ended."""

    def __init__(self, size):
        self.slots = threading.Semaphore(size)
        self.cond = threading.Condition()
        self.running = 0

    def start(self):
        self.slots.acquire()
        with self.cond:
            self.running += 1

    def end(self):
        with self.cond:
            self.running -= 1
            self.cond.notify_all()
        self.slots.release()

    def wait(self):
        with self.cond:
            while self.running:
                self.cond.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--ops", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds to let the routing tables fill after every join was answered")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    config = opendht.DhtConfig()
    config.setRateLimit(-1, -1)  # no global and no per-peer request limit

    rss_before = rss_kb()
    nodes = []
    t0 = time.perf_counter()
    for _ in range(a.nodes):
        r = opendht.DhtRunner()
        r.run(port=0, ipv4="127.0.0.1", config=config)
        nodes.append(r)
    ports = [str(r.getBound().getPort()) for r in nodes]
    # Each node joins through a node started before it. OpenDHT joins in the background and says
    # nothing when done: bootstrap_s is the time to start the nodes and ask each to join, and the
    # settle time is what lets the joins finish.
    for i in range(1, a.nodes):
        via = rng.randrange(i)
        nodes[i].bootstrap("127.0.0.1", ports[via])
    bootstrap_s = time.perf_counter() - t0
    time.sleep(a.settle)
    # As kadswarm does before it measures: hand freed heap pages back to the system.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    rss_after = rss_kb()

    def key(i):
        return opendht.InfoHash.get("kadswarm-key-%d" % i)

    lock = threading.Lock()
    put_ms, get_ms, get_done_ms = [], [], []
    counts = {"put_ok": 0, "get_ok": 0}
    cpu0 = cpu_s()

    window = Window(a.concurrency)
    putter = [0] * a.ops
    tp = time.perf_counter()
    for i in range(a.ops):
        putter[i] = rng.randrange(a.nodes)
        window.start()
        t = time.perf_counter()

        def put_done(ok, _nodes, t=t):
            ms = (time.perf_counter() - t) * 1000
            with lock:
                put_ms.append(ms)
                counts["put_ok"] += bool(ok)
            window.end()

        nodes[putter[i]].put(key(i), opendht.Value(("value %d" % i).encode()), done_cb=put_done)
    window.wait()
    put_s = time.perf_counter() - tp

    tg = time.perf_counter()
    for i in range(a.ops):
        frm = rng.randrange(a.nodes)
        if frm == putter[i]:
            frm = (frm + 1) % a.nodes
        expect = ("value %d" % i).encode()
        state = {"found": False}
        window.start()
        t = time.perf_counter()

        def got(v, t=t, expect=expect, state=state):
            if not state["found"] and v.data == expect:
                state["found"] = True
                with lock:
                    get_ms.append((time.perf_counter() - t) * 1000)
                    counts["get_ok"] += 1
            return True

        def get_done(_ok, _nodes, t=t):
            with lock:
                get_done_ms.append((time.perf_counter() - t) * 1000)
            window.end()

        nodes[frm].get(key(i), get_cb=got, done_cb=get_done)
    window.wait()
    get_s = time.perf_counter() - tg
    cpu = cpu_s() - cpu0

    print(json.dumps({
        "impl": "opendht " + opendht_version(),
        "nodes": a.nodes,
        "bootstrap_s": round(bootstrap_s, 3),
        "settle_s": a.settle,
        "ops": a.ops,
        "concurrency": a.concurrency,
        "put_p50_ms": round(percentile(put_ms, 50), 3),
        "put_p99_ms": round(percentile(put_ms, 99), 3),
        "get_p50_ms": round(percentile(get_ms, 50), 3),
        "get_p99_ms": round(percentile(get_ms, 99), 3),
        "get_done_p50_ms": round(percentile(get_done_ms, 50), 3),
        "put_ops_s": round(a.ops / put_s, 1),
        "get_ops_s": round(a.ops / get_s, 1),
        "success_rate": counts["get_ok"] / a.ops,
        "put_success_rate": counts["put_ok"] / a.ops,
        "rss_kb_per_node": round((rss_after - rss_before) / a.nodes, 1),
        "cpu_s": round(cpu, 3),
        "seed": a.seed,
    }), flush=True)
    # DhtRunner.join() from Python can wait forever on the binding's threads; the figures are out,
    # so end the process without tearing the nodes down one by one.
    os._exit(0)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""kadnode beside an independent implementation of the BitTorrent DHT: bittorrent-dht (npm,
tests/interop/peer.mjs), on loopback. kadnode is the only path between the others: each
bittorrent-dht node bootstraps from the first kadnode node and knows nothing else, so whatever
one finds of the other went through kadnode's answers, and whatever kadnode finds of them went
through theirs.

Every test captures loopback (dumpcap) and ends by checking, with tshark, that every datagram a
kadnode node sent decodes as bt-dht with no malformed field (tests/e2e/capture.py).

Run: test_interop.py PATH/TO/kadnode [unittest args]. Needs root (the capture), dumpcap and
tshark, node and tests/interop/node_modules (tools/test runs npm ci there).
"""

import hashlib
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture  # noqa: E402  (dumpcap, and tshark's reading of the capture)
import test_kadnode as base  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "interop", "peer.mjs")
MODULES = os.path.join(HERE, "..", "interop", "node_modules", "bittorrent-dht")


class JsPeer(base.Piped):
    """A bittorrent-dht node at `host`, bootstrapping from `bootstrap`, driven by JSON lines."""

    def __init__(self, host, bootstrap, env):
        super().__init__(["node", PEER, host, bootstrap], env)

    def op(self, timeout=20, **command):
        self.send(base.json.dumps(command))
        return self.wait_for(lambda o: "ok" in o, timeout)


SEED = "07" * 32  # the bittorrent-dht side's Ed25519 key
DROPPED = base.DROPPED


class JsHarness(base.Harness):
    """The harness, with bittorrent-dht nodes beside the kadnode ones, and loopback captured."""

    def setUp(self):
        super().setUp()
        if shutil.which("node") is None or not os.path.isdir(MODULES):
            self.fail("needs node and tests/interop/node_modules: run tools/test "
                      "(or npm ci in tests/interop)")
        if os.geteuid() != 0 or not (shutil.which("dumpcap") and shutil.which("tshark")):
            self.fail("needs root, dumpcap and tshark to capture loopback (tools/test installs "
                      "tshark; run it as root)")
        self.capture = capture.Capture(os.path.join(self.tmp, "interop.pcap"))
        self.procs.append(self.capture)
        self.kadnode = {}  # endpoint -> process, of every kadnode node started
        self.probe = {}  # endpoint -> its second port's ("ip:port"), where its probes come from

    def start_json_node(self, *extra):
        p, ready = super().start_json_node(*extra)
        self.kadnode[ready["addr"]] = p
        self.probe[ready["addr"]] = capture.probe_source(ready["addr"], ready)
        return p, ready

    def check_capture(self, *living):
        """What every test ends with: the kadnode nodes still running (these processes) dropped
        nothing bittorrent-dht sent; the capture holds at least every datagram they say they
        sent; and every datagram any kadnode node sent decodes as bt-dht, unflagged."""
        sent = {}
        for at, p in self.kadnode.items():
            if p not in living:
                continue
            stats = p.cmd("stats")
            self.assertEqual({c: stats[c] for c in DROPPED}, dict.fromkeys(DROPPED, 0), stats)
            sent[at] = stats["packets_out"]
        self.assertEqual(len(sent), len(living))
        sources = set(self.kadnode) | set(self.probe.values())
        ports = {int(at.rsplit(":", 1)[1]) for at in sources}
        grams = capture.datagrams(self.capture.stop(), decode_as=ports)
        capture.keep(self.capture.path, self._testMethodName)
        for at, n in sent.items():
            self.assertGreaterEqual(sum(g.src in (at, self.probe[at]) for g in grams), n, at)
        self.assertEqual(capture.not_bt_dht(grams, sources), [])

    def js(self, host, bootstrap):
        p = JsPeer(host, bootstrap, self.env)
        self.procs.append(p)
        self.assertEqual(p.wait_for(lambda o: "event" in o, 20)["event"], "ready")
        return p

    def joined_node(self, *extra):
        p, ready = self.start_json_node(*extra)
        self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
        return p, ready["id"]


class Interop(JsHarness):
    def setUp(self):
        super().setUp()
        # K1: the hub. J1, J2: bittorrent-dht, each knowing only K1. K2: kadnode, through K1.
        self.k1, ready = self.start_json_node()
        self.hub, self.k1_id = ready["addr"], ready["id"]
        self.j1 = self.js("127.0.0.2", self.hub)
        self.j2 = self.js("127.0.0.3", self.hub)
        self.k2, self.k2_id = self.joined_node("--bootstrap-addr", self.hub)

    def test_bittorrent_dht_reads_items_only_kadnode_holds(self):
        # Items put by both sides; then the bittorrent-dht nodes stop, and a new one can find
        # them only in kadnode's answers (it checks hashes and signatures as it reads).
        imm = self.j1.op(op="put", v="hello from bittorrent-dht")
        mut = self.j1.op(op="mput", seed=SEED, salt="status", seq=1, v="at lunch")
        kimm = self.k2.cmd("bput hello from kadnode")
        kmut = self.k2.cmd("mput --salt s signed by kadnode")
        for r in (imm, mut, kimm, kmut):
            self.assertTrue(r["ok"], r)
        self.assertEqual(imm["target"],
                         hashlib.sha1(b"25:hello from bittorrent-dht").hexdigest())
        self.assertEqual(mut["target"],
                         hashlib.sha1(bytes.fromhex(mut["public_key"]) + b"status").hexdigest())
        self.j1.kill()
        self.j2.kill()
        j3 = self.js("127.0.0.4", self.hub)
        kadnode_ids = {self.k1_id, self.k2_id}
        for target, salt, value in [(imm["target"], None, "hello from bittorrent-dht"),
                                    (mut["target"], "status", "at lunch"),
                                    (kimm["target"], None, "hello from kadnode"),
                                    (kmut["target"], "s", "signed by kadnode")]:
            g = j3.op(op="get", target=target, **({"salt": salt} if salt else {}))
            self.assertEqual((g["ok"], g["v"]), (True, value), (target, g))
            self.assertIn(g["from"], kadnode_ids, g)
        self.check_capture(self.k1, self.k2)

    def test_kadnode_reads_items_only_bittorrent_dht_holds(self):
        imm = self.j1.op(op="put", v="hello from bittorrent-dht")
        self.assertTrue(self.j1.op(op="mput", seed=SEED, salt="status", seq=1, v="at lunch")["ok"])
        mut = self.j1.op(op="mput", seed=SEED, salt="status", seq=2, v="back")
        self.assertTrue(mut["ok"], mut)
        pk = mut["public_key"]
        # The old version sent again is refused (302) by kadnode.
        before = self.k1.cmd("stats")["puts_refused"]
        self.j1.op(op="mput", seed=SEED, salt="status", seq=1, v="at lunch")
        self.assertGreater(self.k1.cmd("stats")["puts_refused"], before)
        # The kadnode holders stop; a new kadnode node joins through a bittorrent-dht node and
        # finds the items only in bittorrent-dht's answers (checking hashes and signatures).
        j1, j2 = self.j1.op(op="addr"), self.j2.op(op="addr")
        self.k1.kill()
        self.k2.kill()
        k3, _ = self.joined_node("--bootstrap-addr", j2["addr"])
        js_ids = {j1["id"], j2["id"]}
        g = k3.cmd("bget " + imm["target"])
        self.assertEqual((g["ok"], g.get("value"), g.get("local")),
                         (True, "hello from bittorrent-dht", False), g)
        self.assertIn(g["from"]["id"], js_ids)
        g = k3.cmd(f"mget {pk} status")
        self.assertEqual((g["ok"], g.get("value"), g.get("seq"), g.get("local")),
                         (True, "back", 2, False), g)
        self.assertIn(g["from"]["id"], js_ids)
        self.check_capture(k3)

    def test_bep5_swarms_both_ways(self):
        ih = "cd" * 20
        self.assertTrue(self.j1.op(op="announce", info_hash=ih, port=6881)["ok"])
        r = self.k2.cmd("peers " + ih)
        self.assertTrue(r["ok"], r)
        self.assertIn("127.0.0.2:6881", r["peers"])
        r = self.k2.cmd(f"announce {ih} 7000")
        self.assertTrue(r["ok"], r)
        r = self.j2.op(op="lookup", info_hash=ih)
        self.assertTrue(r["ok"], r)
        self.assertIn("127.0.0.1:7000", r["peers"])
        self.assertIn("127.0.0.2:6881", r["peers"])
        self.check_capture(self.k1, self.k2)

    def test_probes_of_one_bittorrent_dht_node(self):
        j1 = self.j1.op(op="addr")
        at, jid = j1["addr"], j1["id"]
        r = self.k2.cmd(f"p {at} {jid}")  # with its id: the reply must carry it
        self.assertTrue(r["ok"], r)
        r = self.k2.cmd(f"fn {at} {'00' * 20}")
        self.assertTrue(r["ok"], r)
        self.assertTrue(r["nodes"], r)  # it knows K1 at least
        ih = "ef" * 20
        r = self.k2.cmd(f"ap {at} {ih} 6999")
        self.assertTrue(r["ok"], r)
        r = self.k2.cmd(f"gp {at} {ih}")
        self.assertEqual((r["ok"], r["peers"]), (True, ["127.0.0.1:6999"]), r)
        # kadnode's own find_value is a method bittorrent-dht does not know; it does not answer
        # (where BEP 5 would have it say 204).
        r = self.k2.cmd(f"fv {at} greeting")
        self.assertEqual((r["ok"], r["code"]), (False, "timeout"), r)
        self.check_capture(self.k1, self.k2)

    def test_find_node_routes_through_kadnode(self):
        j1 = self.j1.op(op="addr")
        r = self.k2.cmd("ln " + j1["id"])
        self.assertTrue(r["ok"], r)
        self.assertIn(j1["id"], [n["id"] for n in r["nodes"]])
        r = self.k2.cmd("stats")
        self.assertEqual(r["malformed_dropped"], 0)
        # rt and stats tell the implementations apart by the "v" of their answers.
        rt = self.k2.cmd("rt")
        clients = {c["id"]: c["client"] for b in rt["buckets"] for c in b["contacts"]}
        self.assertEqual(clients[self.k1_id], "KN 0001", rt)
        self.assertEqual(clients[j1["id"]], "none", rt)  # bittorrent-dht sends no "v"
        self.assertEqual(r["clients"], {"KN 0001": 1, "none": len(clients) - 1}, r)
        self.check_capture(self.k1, self.k2)


class KadnodeValuesThroughBittorrentDht(JsHarness):
    """kadnode's own store/find_value in a network that kadnode nodes enter only through
    bittorrent-dht nodes, which do not know those methods (docs/PROTOCOL.md, "Mixed networks")."""

    def test_put_stores_on_the_kadnode_nodes_and_get_finds_them_through_bittorrent_dht(self):
        j1 = self.js("127.0.0.2", "127.0.0.1:9")  # knows nobody: port 9 is closed
        j1_addr = j1.op(op="addr")["addr"]
        j2 = self.js("127.0.0.3", j1_addr)
        j2_addr = j2.op(op="addr")["addr"]
        kad = [self.joined_node("--bootstrap-addr", j1_addr) for _ in range(4)]
        writer = kad[0][0]
        # Every other kadnode node is among the k nearest that speak find_value; the
        # bittorrent-dht nodes route (find_node) but hold nothing and count as no failure.
        r = writer.cmd("put greeting hello through bittorrent-dht")
        self.assertEqual((r["ok"], r["stored"], r["refused"], r["failed"]), (True, 3, 0, 0), r)
        self.assertEqual(writer.cmd("stats")["foreign_nodes"], 2)
        writer.kill()
        # A new node that knows only j2 finds the value on a kadnode holder.
        reader, _ = self.joined_node("--bootstrap-addr", j2_addr)
        g = reader.cmd("get greeting")
        self.assertEqual((g["ok"], g.get("value")), (True, "hello through bittorrent-dht"), g)
        self.assertIn(g["from"]["id"], {i for _, i in kad[1:]}, g)
        s = reader.cmd("stats")
        self.assertEqual(s["foreign_nodes"], 2, s)
        # No find_value was sent where it would go unanswered: bittorrent-dht's answers carry
        # no "v", which marks them as foreign before any get.
        self.assertEqual(s["hard_timeouts"], 0, s)
        self.check_capture(reader, *(p for p, _ in kad[1:]))


if __name__ == "__main__":
    base.KADNODE = sys.argv.pop(1)
    unittest.main(verbosity=2)

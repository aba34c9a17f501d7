#!/usr/bin/python3
"""kadnode beside libtorrent's DHT (python3-libtorrent 2.0, each session driven through
tests/interop/lt_peer.py), in a network namespace that each test creates and deletes with its
processes. kadnode is the only path between the libtorrent sessions: each bootstraps from the
kadnode hub alone (and libtorrent never keeps a bootstrap node in its routing table), so whatever
one finds of the other went through kadnode's answers. Every node has a 127.0.N.1 address of its
own.

Every test captures the namespace's traffic (dumpcap) and ends by checking, with tshark, that
every datagram a kadnode node sent decodes as bt-dht with no malformed field, and that kadnode
dropped nothing libtorrent sent. Set KAD_CAPTURE_DIR to keep each test's capture there (the fuzz
seeds come from them: tools/mixed-corpus).

Needs root, iproute2, python3-libtorrent, python3-cryptography, dumpcap and tshark.
Run: /usr/bin/python3 test_libtorrent.py PATH/TO/kadnode [unittest args].
"""

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture  # noqa: E402  (dumpcap, and tshark's reading of the capture)
import test_discovery as lab  # noqa: E402  (Lab: namespaces, kadnode nodes in them)
from test_kadnode import DROPPED, Piped  # noqa: E402

LT_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "lt_peer.py")

PORT = 6881  # every node's, each at an address of its own
HUB, K2, K3 = (f"127.0.{n}.1:{PORT}" for n in (1, 2, 3))  # kadnode
L1, L2, L3 = (f"127.0.{n}.1:{PORT}" for n in (11, 12, 13))  # libtorrent
SEED = "07" * 32  # libtorrent's Ed25519 key


class LtPeer(Piped):
    """A libtorrent session at `listen` in namespace ns, knowing only `bootstrap`."""

    def __init__(self, ns, listen, bootstrap, save_dir):
        super().__init__(["ip", "netns", "exec", ns, "/usr/bin/python3", LT_PEER, listen,
                          bootstrap, save_dir])

    def op(self, timeout=40, **command):
        self.send(json.dumps(command))
        return self.wait_for(lambda o: "ok" in o, timeout)


class Libtorrent(lab.Lab):
    def setUp(self):
        super().setUp()  # Lab's cleanup removes the namespace and processes, even if this fails
        self.start_network()

    def start_network(self):
        missing = [t for t in ("dumpcap", "tshark") if not shutil.which(t)]
        missing += ["python3-" + m for m in ("libtorrent", "cryptography")
                    if importlib.util.find_spec(m) is None]
        if missing:
            self.fail("needs " + ", ".join(missing) + " (tools/common.sh installs them)")
        self.ns = self.netns("lt")
        self.capture = capture.Capture(os.path.join(self.tmp, "lt.pcap"), netns=self.ns)
        self.procs.append(self.capture)
        self.kadnode = {}  # endpoint -> id, of every kadnode node started
        self.kad_procs = {}  # endpoint -> its process
        self.probe = {}  # endpoint -> its second port's ("ip:port"), where its probes come from
        # The hub, a second kadnode node through it, then two libtorrent sessions knowing only the
        # hub; the second starts once the hub knows the first, so it hears of it from kadnode.
        self.k1 = self.kad(HUB)
        self.k2 = self.kad(K2, HUB)
        self.l1, self.l1_id = self.lt(L1, HUB)
        self.wait_until("the hub knows L1", lambda: self.l1_id in self.contacts(self.k1), 10)
        self.l2, self.l2_id = self.lt(L2, HUB)

    def kad(self, at, bootstrap=None):
        extra = ["--bootstrap-addr", bootstrap] if bootstrap else []
        p, ready = self.node(self.ns, "--no-discovery", "--bind", at, *extra)
        if bootstrap:
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
        self.kadnode[at] = ready["id"]
        self.kad_procs[at] = p
        self.probe[at] = capture.probe_source(at, ready)
        return p

    def lt(self, at, bootstrap):
        """A libtorrent session, once its DHT bootstrapped; returns it and its node id."""
        p = LtPeer(self.ns, at, bootstrap, self.tmp)
        self.procs.append(p)
        self.assertEqual(p.wait_for(lambda o: "event" in o, 20)["event"], "ready")
        r = p.op(op="addr")
        self.assertEqual((r["ok"], r["addr"]), (True, at), r)
        return p, r["id"]

    @staticmethod
    def contacts(k):
        return {c["id"]: c for b in k.cmd("rt")["buckets"] for c in b["contacts"]}

    def live_nodes(self, lt):
        return {(n["id"], n["addr"]) for n in self.ok(lt.op(op="live_nodes"))["nodes"]}

    def ok(self, r):
        self.assertTrue(r["ok"], r)
        return r

    def assert_only_kadnode_answered(self, got):
        """A libtorrent read: the item came in answers, and only in kadnode nodes' answers."""
        self.assertTrue(got["from"], got)
        self.assertLessEqual(set(got["from"]), set(self.kadnode), got)

    def check_capture(self, *living):
        """What every test ends with: the kadnode nodes still running (at these endpoints)
        dropped nothing libtorrent sent; the capture holds at least every datagram they say they
        sent; and every datagram any kadnode node sent decodes as bt-dht, unflagged."""
        sent = {}
        for at in living:
            stats = self.kad_procs[at].cmd("stats")
            self.assertEqual({c: stats[c] for c in DROPPED}, dict.fromkeys(DROPPED, 0), stats)
            sent[at] = stats["packets_out"]
        probes = set(self.probe.values())
        ports = {PORT} | {int(at.rsplit(":", 1)[1]) for at in probes}
        grams = capture.datagrams(self.capture.stop(), decode_as=ports)
        capture.keep(self.capture.path, self._testMethodName)
        for at, n in sent.items():
            self.assertGreaterEqual(sum(g.src in (at, self.probe[at]) for g in grams), n, at)
        self.assertEqual(capture.not_bt_dht(grams, set(self.kadnode) | probes), [])

    def test_find_node_routes_through_kadnode(self):
        # kadnode's iterative lookup finds a libtorrent node.
        r = self.ok(self.k2.cmd("ln " + self.l1_id))
        self.assertEqual((r["nodes"][0]["id"], r["nodes"][0]["addr"]), (self.l1_id, L1), r)
        # L2 has L1 in its routing table, heard of only in kadnode's answers: the hub is not in
        # it (libtorrent keeps no bootstrap node), but the other kadnode node is.
        self.wait_until("L2's routing table holds L1",
                        lambda: (self.l1_id, L1) in self.live_nodes(self.l2), 10)
        self.assertIn((self.kadnode[K2], K2), self.live_nodes(self.l2))
        told = {n["from"] for n in self.ok(self.l2.op(op="learned"))["nodes"]
                if (n["id"], n["addr"]) == (self.l1_id, L1)}
        self.assertTrue(told, "nobody told L2 of L1")
        self.assertLessEqual(told, set(self.kadnode), told)
        # kadnode tells the implementations apart by the "v" of their answers.
        clients = {i: c["client"] for i, c in self.contacts(self.k2).items()}
        self.assertEqual((clients[self.l1_id], clients[self.l2_id], clients[self.kadnode[HUB]]),
                         ("LT 0208", "LT 0208", "KN 0001"), clients)
        self.check_capture(HUB, K2)

    def test_bep5_swarms_both_ways(self):
        ih = "cd" * 20
        # L1 joins the swarm (a torrent of that info-hash announces itself at L1's port): the
        # hub stores it, kadnode's lookup finds it, and so does L2's.
        self.ok(self.l1.op(op="announce", info_hash=ih))
        self.wait_until("the hub holds L1's announce",
                        lambda: L1 in self.k2.cmd(f"gp {HUB} {ih}").get("peers", []), 15)
        self.assertIn(L1, self.ok(self.k2.cmd("peers " + ih))["peers"])
        self.assertIn(L1, self.ok(self.l2.op(op="get_peers", info_hash=ih))["peers"])
        # kadnode announces; libtorrent's get_peers finds it.
        r = self.ok(self.k2.cmd(f"announce {ih} 7000"))
        self.assertGreaterEqual(r["announced"], 3, r)
        peers = self.ok(self.l2.op(op="get_peers", info_hash=ih))["peers"]
        self.assertIn("127.0.2.1:7000", peers)
        self.check_capture(HUB, K2)

    def test_libtorrent_reads_items_only_kadnode_holds(self):
        kimm = self.ok(self.k2.cmd("bput hello from kadnode"))
        kmut = self.ok(self.k2.cmd("mput --salt s signed by kadnode"))
        self.assertEqual(kimm["target"], hashlib.sha1(b"18:hello from kadnode").hexdigest())
        # The libtorrent sessions stop; a new one, knowing only the hub, finds the items in
        # kadnode's answers alone (checking the hash and the signature as it reads).
        self.l1.kill()
        self.l2.kill()
        l3, _ = self.lt(L3, HUB)
        g = self.ok(l3.op(op="get", target=kimm["target"]))
        self.assertEqual(g["v"], "hello from kadnode", g)
        self.assert_only_kadnode_answered(g)
        g = self.ok(l3.op(op="mget", public_key=kmut["public_key"], salt="s"))
        self.assertEqual((g["v"], g["seq"]), ("signed by kadnode", 1), g)
        self.assert_only_kadnode_answered(g)
        self.check_capture(HUB, K2)

    def test_kadnode_reads_items_only_libtorrent_holds(self):
        imm = self.ok(self.l1.op(op="put", v="hello from libtorrent"))
        self.assertEqual(imm["target"], hashlib.sha1(b"21:hello from libtorrent").hexdigest())
        self.assertEqual(self.ok(self.l1.op(op="mput", seed=SEED, salt="status",
                                            v="at lunch"))["seq"], 1)
        mut = self.ok(self.l1.op(op="mput", seed=SEED, salt="status", v="back"))
        self.assertEqual(mut["seq"], 2)  # libtorrent found seq 1, and put the next
        # The kadnode holders stop; a new kadnode node joins through L2 and finds the items only
        # in libtorrent's answers (checking hashes and signatures).
        self.k1.kill()
        self.k2.kill()
        k3 = self.kad(K3, L2)
        lt_ids = {self.l1_id, self.l2_id}
        g = self.ok(k3.cmd("bget " + imm["target"]))
        self.assertEqual((g.get("value"), g["local"]), ("hello from libtorrent", False), g)
        self.assertIn(g["from"]["id"], lt_ids)
        g = self.ok(k3.cmd(f"mget {mut['public_key']} status"))
        self.assertEqual((g.get("value"), g["seq"], g["local"]), ("back", 2, False), g)
        self.assertIn(g["from"]["id"], lt_ids)
        self.check_capture(K3)

    def test_a_stale_seq_from_libtorrent_is_refused(self):
        for seq, v in [(1, "at lunch"), (2, "back")]:
            mut = self.ok(self.l1.op(op="mput", seed=SEED, salt="status", v=v))
            self.assertEqual(mut["seq"], seq, mut)
        # libtorrent's own put of seq 1 to the hub (its signature, and the token the hub gave
        # its address), sent again from that address once the hub holds seq 2: refused, 302.
        puts = [p for p in self.ok(self.l1.op(op="sent", q="put"))["sent"] if p["to"] == HUB]
        old, new = (next(p["hex"] for p in puts if b"3:seqi%de" % seq in bytes.fromhex(p["hex"]))
                    for seq in (1, 2))
        before = self.k1.cmd("stats")["puts_refused"]
        r = self.ok(self.l1.op(op="send", to=HUB, hex=old))
        self.assertEqual(r["reply"]["y"], "e", r)
        self.assertEqual(r["reply"]["e"][0], 302, r)
        self.assertEqual(self.k1.cmd("stats")["puts_refused"], before + 1)
        # The current one sent again is accepted (it refreshes the item): the refusal was the seq.
        r = self.ok(self.l1.op(op="send", to=HUB, hex=new))
        self.assertEqual(r["reply"], {"y": "r"}, r)
        g = self.ok(self.k1.cmd(f"mget {mut['public_key']} status"))
        self.assertEqual((g["value"], g["seq"]), ("back", 2), g)
        self.check_capture(HUB, K2)

    def test_probes_of_one_libtorrent_node(self):
        self.ok(self.k2.cmd(f"p {L1} {self.l1_id}"))  # with its id: the reply must carry it
        r = self.ok(self.k2.cmd(f"fn {L1} {'00' * 20}"))
        self.assertIn(self.kadnode[K2], [n["id"] for n in r["nodes"]], r)  # it knows K2 at least
        ih = "ef" * 20
        self.ok(self.k2.cmd(f"ap {L1} {ih} 6999"))
        r = self.ok(self.k2.cmd(f"gp {L1} {ih}"))
        self.assertEqual(r["peers"], ["127.0.2.1:6999"], r)
        # BEP 51: libtorrent samples the swarms it holds (and keeps that sample for a while).
        r = self.ok(self.k2.cmd(f"samples {L1}"))
        self.assertIn(ih, r["samples"], r)
        self.assertEqual(r["num"], len(r["samples"]), r)
        # kadnode's own methods: libtorrent answers find_value as find_node (nodes, no token), so
        # kadnode finds no value there, and will not store there.
        r = self.ok(self.k2.cmd(f"fv {L1} greeting"))
        self.assertEqual((r["found"], r["id"]), (False, self.l1_id), r)
        self.assertTrue(r["nodes"], r)
        r = self.k2.cmd(f"s {L1} greeting hello")
        self.assertEqual((r["ok"], r["code"]), (False, "bad_response"), r)
        self.assertIn("gave no token", r["error"])
        self.check_capture(HUB, K2)

    def test_the_bt_dht_check_flags_malformed_datagrams(self):
        # The check the other tests end with is not vacuous: datagrams sent to the hub from new
        # sockets in the namespace (lt_peer's "send"), a well-formed ping (answered) and three
        # malformed ones, are read by the same decoding, and exactly the malformed ones are
        # flagged.
        ping = "d1:ad2:id20:" + "a" * 20 + "e1:q4:ping1:t2:aa1:y1:qe"
        bad = [ping[:-1],  # unterminated
               ping.replace("1:y1:q", "1:y9:q"),  # a string running past the datagram
               "\x00\x01 not bencode at all"]
        r = self.ok(self.l1.op(op="send", to=HUB, hex=ping.encode().hex()))
        self.assertEqual(r["reply"]["y"], "r", r)
        good_from = r["from"]
        bad_from = [self.ok(self.l1.op(op="send", to=HUB, hex=b.encode("latin-1").hex(),
                                        wait=0.2))["from"] for b in bad]
        self.assertEqual(self.k1.cmd("stats")["malformed_dropped"], 3)
        grams = capture.datagrams(self.capture.stop(), decode_as=[PORT])
        self.assertIn(good_from, [g.src for g in grams])
        flagged = capture.not_bt_dht(grams, set(bad_from) | {good_from})
        self.assertEqual(sorted(g.src for g in flagged), sorted(bad_from))


if __name__ == "__main__":
    lab.KADNODE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

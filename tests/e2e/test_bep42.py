#!/usr/bin/python3
"""End-to-end tests of BEP 42 with public addresses: real kadnode processes in a network
namespace that the test creates (loopback is exempt from BEP 42, so its addresses are added to the
namespace's lo), and deletes with its processes.

Needs root and iproute2. Run: test_bep42.py PATH/TO/kadnode [unittest args].
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_discovery as lab  # noqa: E402  (Lab: namespaces, nodes in them)

# Four networks (distinct /24s, none of them private), one responder in each, and ours.
RESPONDERS = ["203.0.113.1", "192.0.2.1", "100.64.0.1"]
OURS = "198.51.100.7"
OTHER = "198.51.100.8"


class PublicAddressTests(lab.Lab):
    def public_lan(self):
        ns = self.netns("pub")
        for a in RESPONDERS + [OURS, OTHER]:
            lab.ip("-n", ns, "addr", "add", a + "/32", "dev", "lo")
        return ns

    def responders(self, ns):
        """One node at each responder address, with an ID chosen (so kept, and not matching)."""
        first = self.node(ns, "--no-discovery", "--bind", RESPONDERS[0] + ":6881", "--id",
                          "11" * 20)
        nodes = [first]
        for a, c in zip(RESPONDERS[1:], "23"):
            nodes.append(self.node(ns, "--no-discovery", "--bind", a + ":6881", "--id", c * 40,
                                   "--bootstrap-addr", RESPONDERS[0] + ":6881"))
        for p, _ in nodes[1:]:
            self.assertTrue(p.wait_for(lambda o: o.get("event") == "joined")["ok"])
        return nodes

    def test_a_node_takes_an_id_matching_the_address_three_responders_agree_on(self):
        ns = self.public_lan()
        # The responders keep the IDs they were given: only ours moves.
        responders = self.responders(ns)
        boot = [x for a in RESPONDERS for x in ("--bootstrap-addr", a + ":6881")]
        d, d_ready = self.node(ns, "--no-discovery", "--bind", OURS + ":6881", *boot)
        changed = d.wait_for(lambda o: o.get("event") == "id", timeout=10)
        self.assertEqual(changed["old_id"], d_ready["id"])
        self.assertNotEqual(changed["id"], d_ready["id"])
        self.assertEqual(changed["external_addr"], OURS)
        r = d.cmd("id")
        self.assertEqual((r["id"], r["external_addr"], r["id_bep42"]),
                         (changed["id"], OURS + ":6881", "conforming"), r)
        self.assertGreaterEqual(r["external_votes"], 3)
        self.assertEqual(d.cmd("stats")["id_changes"], 1)
        # The responders' IDs were chosen, so they do not match their addresses, and say so.
        rt = d.cmd("rt")
        kinds = {c["bep42"] for b in rt["buckets"] for c in b["contacts"]}
        self.assertEqual(kinds, {"nonconforming"}, rt)
        self.assertEqual(d.cmd("stats")["bep42_nonconforming"], 3)
        # The network reaches it under its new ID.
        self.assertTrue(d.cmd("put moved here")["ok"])
        a = responders[0][0]
        self.assertEqual(a.cmd("get moved")["value"], "here")
        r = a.cmd("p " + OURS + ":6881")
        self.assertEqual((r["ok"], r["id"]), (True, changed["id"]), r)

        # Given an ID, a node keeps it, and counts it nonconforming.
        e, e_ready = self.node(ns, "--no-discovery", "--bind", OTHER + ":6881", "--id", "44" * 20,
                               *boot)
        self.assertTrue(e.wait_for(lambda o: o.get("event") == "joined")["ok"])
        r = e.cmd("id")
        self.assertEqual((r["id"], r["id_bep42"]), ("44" * 20, "nonconforming"), r)
        self.assertEqual(e.cmd("stats")["id_changes"], 0)

    def test_require_keeps_nonconforming_ids_out_of_the_routing_table(self):
        ns = self.public_lan()
        responders = self.responders(ns)
        boot = [x for a in RESPONDERS for x in ("--bootstrap-addr", a + ":6881")]
        d, _ = self.node(ns, "--no-discovery", "--bind", OURS + ":6881", "--bep42", "require",
                         *boot)
        joined = d.wait_for(lambda o: o.get("event") == "joined")
        self.assertEqual((joined["ok"], joined["code"]), (False, "no_contacts"), joined)
        self.assertIn("BEP 42 is required", joined["error"])
        # The join may end at a ping's soft timeout, before the slowest responder's answer:
        # that answer is refused when it comes, within the hard timeout (2 s).
        self.wait_until("all three responders refused",
                        lambda: d.cmd("stats")["bep42_refused"] >= 3, 5)
        r = d.cmd("stats")
        self.assertEqual(r["bep42_nonconforming"], 0, r)
        self.assertEqual(d.cmd("rt")["contacts"], 0)
        # Nobody to ask: the user is told so.
        r = d.cmd("ln " + "0" * 40)
        self.assertEqual((r["ok"], r["code"]), (False, "no_contacts"), r)
        for p, _ in responders:
            p.close_stdin()


if __name__ == "__main__":
    lab.KADNODE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

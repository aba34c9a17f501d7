#!/usr/bin/python3
"""The benchmark programs end to end, at a small scale: they run, and report what they claim.

Run: test_bench.py BIN_DIR [unittest args], BIN_DIR holding kadnode, kadload, kadswarm,
kadjournal, kadmicro and kadsim. Every run is bounded in time; every process started is killed. Figures
are not checked against targets here (a noisy machine): docs/BENCHMARKS.md holds the measured
ones.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

BIN = None  # set from argv
COMPARE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench",
                       "compare")
PLOT_CDF = os.path.join(os.path.dirname(COMPARE), "plot_cdf")


class BenchTests(unittest.TestCase):
    def test_compare_runs_both_implementations_and_prints_ratios_and_targets(self):
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "compare.json")
            out = subprocess.run(
                ["/usr/bin/python3", COMPARE, "--build", os.path.dirname(BIN), "--nodes", "12",
                 "--ops", "20", "--settle", "2", "--big-nodes", "60", "--big-ops", "20",
                 "--load-seconds", "0.5", "--load-fill", "60", "--timeout", "60", "--json",
                 out_json],
                capture_output=True, text=True, timeout=180)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(out_json) as f:
                runs = json.load(f)["runs"]
        self.assertEqual(set(runs), {"kad_serial", "dht_serial", "kad_parallel", "dht_parallel",
                                     "kad_big", "kad_load"})
        for name in ("kad_serial", "dht_serial", "kad_parallel", "dht_parallel"):
            r = runs[name]
            self.assertEqual(r["nodes"], 12, name)
            self.assertGreater(r["get_ops_s"], 0, name)
            self.assertIsInstance(r["rss_kb_per_node"], (int, float), name)
        # kadnode finds every value; OpenDHT gets two seconds to settle, so allow it a miss.
        self.assertEqual(runs["kad_serial"]["success_rate"], 1.0, runs["kad_serial"])
        self.assertEqual(runs["kad_parallel"]["success_rate"], 1.0, runs["kad_parallel"])
        self.assertGreaterEqual(runs["dht_serial"]["success_rate"], 0.9, runs["dht_serial"])
        self.assertGreaterEqual(runs["dht_parallel"]["success_rate"], 0.9, runs["dht_parallel"])
        self.assertEqual(runs["kad_parallel"]["concurrency"], 64)
        self.assertEqual(runs["dht_parallel"]["concurrency"], 64)
        self.assertTrue(runs["dht_serial"]["impl"].startswith("opendht"))
        self.assertEqual(runs["kad_big"]["joined"], 60)
        self.assertEqual(runs["kad_load"]["fill_verified"], 60)
        # The table: each row with both figures and a ratio; then every target with a verdict.
        self.assertIn("kad/dht", out.stdout)
        ratio_rows = [l for l in out.stdout.splitlines() if l.rstrip().endswith("x")]
        self.assertGreaterEqual(len(ratio_rows), 10, out.stdout)
        verdicts = [l for l in out.stdout.splitlines()
                    if l.endswith(" met") or l.endswith(" MISSED")]
        self.assertEqual(len(verdicts), 8, out.stdout)

    def kadload(self, kadload_args, node_args=()):
        """kadload against a kadnode on 127.0.0.1 (no rate limit): its JSON result."""
        node = subprocess.Popen([os.path.join(BIN, "kadnode"), "--bind", "127.0.0.1:0", "--json",
                                 "--no-repl", "--no-discovery", "--rate-limit", "0", *node_args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            ready = json.loads(node.stdout.readline())
            out = subprocess.run([os.path.join(BIN, "kadload"), "--target", ready["addr"],
                                  *kadload_args], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            return json.loads(out.stdout)
        finally:
            node.kill()
            node.wait()

    def test_kadload_fills_the_table_and_counts_only_answers(self):
        r = self.kadload(["--fill", "100", "--seconds", "0.5"])
        # Every offered contact was checked by the node (it pings a newcomer before taking it).
        self.assertEqual(r["fill_verified"], 100, r)
        self.assertGreater(r["replies"], 1000, r)
        # The node's own pings to the queriers are not answers: never more answers than queries.
        self.assertLessEqual(r["replies"], r["sent"], r)

    def test_kadload_stores_are_accepted_and_journaled(self):
        with tempfile.TemporaryDirectory() as tmp:
            state = os.path.join(tmp, "state")
            r = self.kadload(["--kind", "store", "--seconds", "0.5"],
                             ["--state-dir", state, "--fsync", "never"])
            journal = os.path.getsize(os.path.join(state, "journal"))
        self.assertGreater(r["replies"], 100, r)
        self.assertEqual(r["errors"], 0, r)
        self.assertLessEqual(r["replies"], r["sent"], r)
        # Each accepted store is in the journal (or in a snapshot that folded it in).
        self.assertGreater(journal, 8, r)

    def test_kadjournal_prints_every_policy_beside_the_store_alone(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([os.path.join(BIN, "kadjournal"), "--dir", tmp, "--rounds", "2",
                                  "--seconds", "0.01", "--sync-every", "10", "--json"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(os.listdir(tmp), [])  # its journals removed
        r = json.loads(out.stdout)
        cases = [(row["case"], row["value_size"]) for row in r["rows"]]
        self.assertEqual(cases, [(c, size) for size in (100, 1000)
                                 for c in ("store", "never", "interval-10", "always")])
        for row in r["rows"]:
            self.assertGreater(row["stores_per_s"], 0, row)
            self.assertGreater(row["stores"], 0, row)
            if row["case"] == "store":
                self.assertEqual(row["ratio"], 1.0, row)
            if row["case"] in ("interval-10", "always"):
                self.assertGreater(row["sync_p50_us"], 0, row)
                self.assertGreaterEqual(row["sync_max_us"], row["sync_p50_us"], row)

    def test_kadmicro_runs_every_benchmark(self):
        out = subprocess.run([os.path.join(BIN, "kadmicro"), "--benchmark_min_time=0.01",
                              "--benchmark_format=json"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        names = {b["name"] for b in json.loads(out.stdout)["benchmarks"]}
        for kind in ("ping_query", "find_node_query", "find_value_query", "store_query",
                     "ping_reply", "find_node_reply", "find_value_reply_value",
                     "find_value_reply_nodes", "error_reply"):
            self.assertIn("BM_Decode/" + kind, names)
            self.assertIn("BM_Encode/" + kind, names)
        for name in ("BM_Closest", "BM_HandleDatagram/find_node",
                     "BM_HandleDatagram/find_value_held", "BM_HandleDatagram/find_value_missing"):
            self.assertIn(name, names)

    def test_kadsim_on_the_mainline_preset_reports_bounds_and_writes_a_cdf_to_plot(self):
        with tempfile.TemporaryDirectory() as tmp:
            cdf = os.path.join(tmp, "cdf.txt")
            out = subprocess.run(
                [os.path.join(BIN, "kadsim"), "--internet", "mainline", "--nodes", "300",
                 "--lookups", "40", "--puts", "10", "--seed", "3", "--cdf", cdf],
                capture_output=True, text=True, timeout=240)
            self.assertEqual(out.returncode, 0, out.stderr)
            r = json.loads(out.stdout)
            self.assertEqual(r["internet"], "mainline")
            self.assertEqual(r["joined"], 300)
            self.assertGreater(r["nat_nodes"], 0)
            self.assertGreater(r["rtt_ms_p50"], 50)
            # Every lookup takes at least its bound (the round trips on its path).
            self.assertGreaterEqual(r["bound_ratio_p50"], 1.0)
            self.assertGreaterEqual(r["bound_ratio_p99"], r["bound_ratio_p50"])
            self.assertGreater(r["bound_ms_p50"], 0)
            self.assertGreaterEqual(r["bound_ms_p99"], r["bound_ms_p50"])
            # A get too: its bound is the path to the value, and it takes at least that long.
            self.assertGreater(r["get_bound_ms_p50"], 0)
            self.assertGreaterEqual(r["get_bound_ratio_p50"], 1.0)
            self.assertGreater(r["put_latency_ms_p50"], 0)
            # What the joins cost: every node looked up its own ID, then refreshed ranges, each
            # lookup at least one find_node; the pings include the second-port probes.
            join = r["join_queries_per_node"]
            self.assertGreater(r["join_lookups_per_node"], 1)
            self.assertGreaterEqual(join["find_node"], r["join_lookups_per_node"])
            self.assertGreater(r["join_probes_per_node"], 0)
            self.assertIn("ping", join)
            self.assertLessEqual(r["join_probes_per_node"], join["ping"])
            # Each lookup that missed the nearest node is counted, with that node's round trip.
            self.assertEqual(r["missed_nearest"], round((1 - r["success_rate"]) * r["lookups"]))
            if r["missed_nearest"]:
                self.assertGreater(r["missed_nearest_rtt_ms_min"], 0)
                self.assertLessEqual(r["missed_nearest_rtt_ms_min"],
                                     r["missed_nearest_rtt_ms_p50"])
            else:
                self.assertEqual(r["missed_nearest_rtt_ms_p50"], 0)
            with open(cdf) as f:
                rows = [line.split() for line in f.read().splitlines()[1:]]
            self.assertEqual(len(rows), 40)
            for latency, bound in rows:
                self.assertGreaterEqual(float(latency), float(bound))
            svg = os.path.join(tmp, "cdf.svg")
            plot = subprocess.run(["/usr/bin/python3", PLOT_CDF, svg, "run=" + cdf],
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual(plot.returncode, 0, plot.stderr)
            with open(svg) as f:
                image = f.read()
            self.assertTrue(image.startswith("<svg"))
            self.assertEqual(image.count("<polyline"), 2)  # the latencies and the bound

    def test_kadsim_gives_the_same_figures_on_one_thread_and_on_two(self):
        runs = {}
        for threads in (1, 2):
            out = subprocess.run(
                [os.path.join(BIN, "kadsim"), "--internet", "mainline", "--nodes", "300",
                 "--lookups", "40", "--puts", "10", "--seed", "5", "--threads", str(threads)],
                capture_output=True, text=True, timeout=240)
            self.assertEqual(out.returncode, 0, out.stderr)
            r = json.loads(out.stdout)
            self.assertEqual(r["threads"], threads)
            self.assertEqual(r["joined"], 300)
            # What the machine measured, not the simulation: wall time, memory, threads.
            for key in ("wall_s", "peak_rss_kb", "peak_rss_kb_per_node", "threads"):
                del r[key]
            runs[threads] = r
        self.assertEqual(runs[1], runs[2])

    def test_kadsim_refuses_a_bad_option_with_status_2(self):
        for args in (["--internet", "moon"], ["--soft-timeout-quantile", "0"], ["--threads", "0"],
                     ["--attempts", "0"], ["--attempts", "256"]):
            out = subprocess.run([os.path.join(BIN, "kadsim")] + args, capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn("kadsim:", out.stderr)
            self.assertIn(args[0], out.stderr)  # the flag, not the setting behind it


if __name__ == "__main__":
    BIN = sys.argv.pop(1)
    unittest.main()

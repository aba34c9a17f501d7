#!/usr/bin/python3
"""kadswarm end to end: many real nodes on 127.0.0.1 in one process.

Run: test_swarm.py PATH/TO/kadswarm [unittest args]. Every run is bounded in time.
"""

import json
import subprocess
import sys
import unittest

KADSWARM = None  # set from argv

FIELDS = ["nodes", "bootstrap_s", "put_p50_ms", "put_p99_ms", "get_p50_ms", "get_p99_ms",
          "put_ops_s", "get_ops_s", "success_rate", "hops_p50", "queries_p50", "rss_kb_per_node",
          "cpu_s", "threads"]


class SwarmTests(unittest.TestCase):
    def run_swarm(self, *args, stdin=None, timeout=120):
        out = subprocess.run([KADSWARM, *args], input=stdin, capture_output=True, text=True,
                             timeout=timeout)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out

    def test_bench_prints_every_figure_and_every_get_succeeds(self):
        # On one thread and on two (an io_context each, node i on thread i mod 2): the same results.
        for concurrency, threads in (("1", "1"), ("16", "1"), ("16", "2")):
            out = self.run_swarm("--nodes", "300", "--bench", "--ops", "200", "--concurrency",
                                 concurrency, "--threads", threads)
            r = json.loads(out.stdout)
            for f in FIELDS:
                self.assertIn(f, r)
            self.assertEqual(r["threads"], int(threads))
            self.assertEqual(r["nodes"], 300)
            self.assertEqual(r["joined"], 300, r)
            self.assertEqual(r["success_rate"], 1.0, r)
            self.assertGreater(r["get_ops_s"], 0)
            self.assertGreaterEqual(r["hops_p50"], 1)

    def test_repl_on_node_0_reaches_the_swarm(self):
        script = f"put greeting hello\nget greeting\nln {'00' * 20}\nstats\nquit\n"
        out = self.run_swarm("--nodes", "100", "--repl", stdin=script)
        lines = out.stdout.splitlines()
        # put stores on k = 20 of the 100 nodes; get finds it; ln lists the nearest nodes.
        self.assertIn("on 20 nodes", lines[0])
        self.assertTrue(lines[1].startswith('"hello"'), lines[1])
        self.assertNotIn("ln:", out.stdout)
        self.assertIn("lookups_done", out.stdout)
        self.assertIn("100 nodes joined", out.stderr)

    def test_repl_watch_runs_beside_later_commands(self):
        script = "watch news\nput news hello\nunwatch news\nput news again\nquit\n"
        out = self.run_swarm("--nodes", "50", "--repl", stdin=script)
        self.assertIn('watching "news"', out.stdout)
        # Node 0 keeps its own copy of what it puts: its watch reports it as stored here.
        self.assertIn('watch: "news" = "hello" (seq 0), stored here', out.stdout)
        self.assertIn('stored "news" = "again" (seq 1)', out.stdout)
        self.assertEqual(out.stdout.count("watch: "), 1, out.stdout)  # unwatched: not "again"

    def test_bad_flags_exit_2(self):
        for args in (["--nodes", "1", "--bench"], ["--bench", "--repl"], ["--bogus"],
                     ["--bench", "--threads", "0"], ["--bench", "--poll-us", "-1"],
                     ["--bench", "--poll-us", "x"]):
            out = subprocess.run([KADSWARM, *args], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, args)
            self.assertTrue(out.stderr.startswith("kadswarm: "), out.stderr)


if __name__ == "__main__":
    KADSWARM = sys.argv.pop(1)
    unittest.main()

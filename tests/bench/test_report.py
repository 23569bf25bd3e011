#!/usr/bin/python3
"""tests/bench/report.py without Kafka: small, realistic CSVs of one benchmark
run in a temporary OUT_DIR, then the report checked: the Targets table's
values and verdicts, the ratios of the sections, every plot a PNG linked from
report.md, a malformed or misnamed file failing with its name and line, a
section that was not run left out, and the smoke warning.

Usage: test_report.py   (run by ctest as test_bench_report, label unit)

The PNG checks need gnuplot (deploy/packages-bench.txt); without it they are
skipped, and a separate test checks that the report is still written.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("producer", "pipeline", "concurrency", "scaling", "gateway", "latency-cdf", "memory",
         "history")

RUN = """date=2026-12-01T10:00:00Z
machine=Debian GNU/Linux 12 (bookworm), 2 cores, 4 GiB
cpu=Test CPU @ 2.0GHz
librdkafka=2.0.2
kafka=kafka_2.13-3.9.1
smoke=0
"""

FILES = {
    "producer.csv": """tool,records,record_bytes,seconds,records_per_s,mb_per_s
order-producer,100000,140,1.667,60000,8.4
ProducerPerformance,100000,140,2.0,50000,7.0
ProducerPerformance in-flight 1,100000,140,2.5,40000,5.6
kcat,100000,140,1.25,80000,11.2
""",
    "pipeline.csv": """name,guarantee,orders,seconds,orders_per_s
orderfleet,at_least_once,30000,1.5,20000
orderfleet,exactly_once,30000,2.0,15000
ProducerPerformance,-,100000,2.0,50000
ConsumerPerformance,-,100000,1.0,100000
""",
    "pipeline-cpu.csv": """run,process,records,cpu_seconds
at_least_once,order-producer load,30000,0.45
at_least_once,order-worker,30000,1.05
at_least_once,order-producer outcomes,30000,0.15
at_least_once,broker,30000,1.2
ProducerPerformance,ProducerPerformance,100000,1.0
ProducerPerformance,broker,100000,1.6
""",
    "concurrency.csv": """concurrency,latency_ms,orders,seconds,orders_per_s,ideal_per_s
1,50,100,5.0,20.6,20
16,50,1600,5.0,320,320
64,50,6400,5.0,1361,1280
256,50,20000,4.314,4636,5120
""",
    "scaling.csv": """workers,partitions,orders,seconds,orders_per_s
1,12,30000,2.0,15000
2,12,30000,1.2,25000
3,12,30000,1.0,30000
1,3,30000,2.0,15000
2,3,30000,1.5,20000
3,3,30000,1.5,20000
""",
    # half of the gateway's maximum (3000/s) is 1500/s: 1000 and 2000 are as close,
    # the lower wins; 2500 has only a raw row
    "gateway.csv": """path,rate,requests,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,errors
raw,500,5000,5,8,10,12,15,0
gateway,500,5000,6,9,14,16,20,0
raw,1000,10000,6,9,10,13,18,0
gateway,1000,10000,8,12,25,30,40,0
raw,2000,20000,8,12,15,20,25,0
gateway,2000,20000,18,35,60,90,120,2
raw,2500,25000,9,14,20,25,30,0
""",
    "gateway-max.csv": """path,requests_per_s,p50_ms,p99_ms,errors
raw,10000,40,120,0
gateway,3000,30,80,0
""",
    "memory.csv": """program,state,rss_kib,peak_rss_kib
order-worker,idle,12000,12500
order-worker,load,40000,50000
order-gateway,idle,9000,9500
order-gateway,load,30000,35000
order-gateway,waiting_10000,130000,140000
""",
    "cpu.csv": """stage,instructions_per_order
encode,1200
decode,1500
handle,750
""",
    "cpu-seconds.csv": """program,orders,cpu_seconds,cpu_seconds_per_100k
order-worker,200000,6.4,3.2
order-gateway,10000,0.5,5.0
""",
    "run.txt": RUN,
}

HISTORY = ("date,change,measure,before,after,unit\n"
           '2026-11-29,max.in.flight 1 for every idempotent producer,'
           '"100,000 orders placed (s)",1.31,1.12,s\n'
           '2026-11-29,"worker.max_buffered default 10,000 (was 1,000)",'
           'zero-latency pipeline (orders/s),1350,21000,orders/s\n')


def latencies(base, n):
    """n deterministic latencies (ms) spread from base to about 4 x base."""
    return "".join(f"{base * (1 + 3 * (k / n) ** 4):.3f}\n" for k in range(n))


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_report.")
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        self.history = os.path.join(self.tmp, "history.csv")
        with open(self.history, "w") as f:
            f.write(HISTORY)
        for name, text in FILES.items():
            self.write(name, text)
        self.write("latency-raw-1000.txt", latencies(5.0, 2000))
        self.write("latency-gateway-1000.txt", latencies(7.0, 2000))
        self.write("latency-raw-500.txt", latencies(4.0, 1000))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write(self, name, text):
        with open(os.path.join(self.out, name), "w") as f:
            f.write(text)

    def run_report(self, *extra, env=None, history=True):
        args = [sys.executable, REPORT, self.out] + (["--history", self.history] if history
                                                       else []) + list(extra)
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)

    def report(self):
        with open(os.path.join(self.out, "report.md")) as f:
            return f.read()

    def ok(self, **kw):
        p = self.run_report(**kw)
        self.assertEqual(p.returncode, 0, f"report.py failed: {p.stderr}")
        return p, self.report()

    def fails(self, expected):
        """report.py exits non-zero, says expected (a regex) on stderr, writes no report."""
        p = self.run_report()
        self.assertNotEqual(p.returncode, 0, "report.py accepted broken input")
        self.assertRegex(p.stderr, expected)
        self.assertFalse(os.path.exists(os.path.join(self.out, "report.md")))

    def targets(self, report):
        """The Targets table of report: {target: (measured, goal, result)}."""
        m = re.search(r"^## Targets.*?\n\n.*?\n\n(\|.*?)(?:\n\n|\Z)", report, re.S | re.M)
        self.assertIsNotNone(m, "no Targets table in report.md")
        rows = m.group(1).splitlines()
        self.assertEqual(rows[0], "| target | measured | goal | result |")
        table = {}
        for line in rows[2:]:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            self.assertEqual(len(cells), 4, line)
            table[cells[0]] = tuple(cells[1:])
        return table, m.group(1)

    def target(self, table, prefix):
        found = [v for k, v in table.items() if k.startswith(prefix)]
        self.assertEqual(len(found), 1, f"target '{prefix}' in {sorted(table)}")
        return found[0]

    # -- the Targets table --------------------------------------------------

    def test_targets_values_and_verdicts(self):
        p, report = self.ok()
        table, text = self.targets(report)
        self.assertEqual(len(table), 5)
        measured, goal, result = self.target(table, "order-producer records/s")
        self.assertEqual((measured, goal, result),
                         ("1.20x at 140 B (60,000 vs 50,000 records/s)", ">= 1.00x", "met"))
        measured, goal, result = self.target(table, "pipeline at_least_once")
        self.assertEqual((measured, goal, result),
                         ("0.40x (20,000 vs 50,000/s)", ">= 0.50x", "not met"))
        measured, goal, result = self.target(table, "gateway p99")
        self.assertEqual((measured, goal, result),
                         ("2.50x at 1,000/s (25.0 vs 10.0 ms)", "<= 3.00x", "met"))
        self.assertEqual(self.target(table, "order-worker peak RSS"),
                         ("48.8 MiB", "< 64 MiB", "met"))
        self.assertEqual(self.target(table, "order-gateway peak RSS"),
                         ("136.7 MiB", "< 128 MiB", "not met"))
        # the headline alone, to copy, and on stdout
        with open(os.path.join(self.out, "targets.md")) as f:
            self.assertEqual(f.read(), text + "\n")
        self.assertIn(text, p.stdout)
        # Targets come before every other section
        self.assertLess(report.index("## Targets"), report.index("## Producer"))

    def test_targets_met_and_gateway_rate_moves_with_the_maximum(self):
        # a maximum of 4400/s puts half at 2200/s: the 2000/s rows decide
        self.write("gateway-max.csv", "path,requests_per_s,p50_ms,p99_ms,errors\n"
                   "gateway,4400,30,80,0\n")
        self.write("pipeline.csv", FILES["pipeline.csv"].replace(
            "orderfleet,at_least_once,30000,1.5,20000", "orderfleet,at_least_once,30000,1.2,25000"))
        _, report = self.ok()
        table, _ = self.targets(report)
        self.assertEqual(self.target(table, "gateway p99"),
                         ("4.00x at 2,000/s (60.0 vs 15.0 ms; 2 errors)", "<= 3.00x", "not met"))
        self.assertEqual(self.target(table, "pipeline at_least_once")[2], "met")
        self.assertEqual(self.target(table, "pipeline at_least_once")[0],
                         "0.50x (25,000 vs 50,000/s)")

    def test_gateway_target_without_answers_is_not_measured(self):
        self.write("gateway.csv", FILES["gateway.csv"].replace(
            "gateway,1000,10000,8,12,25,30,40,0", "gateway,1000,10000,0,0,0,0,0,10000"))
        _, report = self.ok()
        table, _ = self.targets(report)
        self.assertEqual(self.target(table, "gateway p99"),
                         ("no request answered on a path at 1,000/s (10,000 errors)", "<= 3.00x",
                          "not measured"))

    # -- the sections -------------------------------------------------------

    def test_section_ratios(self):
        _, report = self.ok()
        for row in (
                # producer: / ProducerPerformance, / in-flight 1, / kcat
                "| order-producer | 100,000 | 140 | 1.67 | 60,000 | 8.40 | 1.20x | 1.50x | 0.75x |",
                # pipeline: / ProducerPerformance, / ConsumerPerformance
                "| orderfleet | exactly_once | 30,000 | 2.00 | 15,000 | 0.30x | 0.15x |",
                # pipeline: where the CPU goes, per order, and the bound it sets
                "| order-worker | 1.05 | 35.0 | 37% |",
                "| **total** | 2.85 | 95.0 |  |",
                "measured 20,000/s; the CPU bound on 2 cores is 21,053/s.",
                "measured 50,000/s; the CPU bound on 2 cores is 76,923/s.",
                # concurrency: % of the ideal
                "| 64 | 50 | 6,400 | 5.00 | 1,361 | 1,280 | 106% |",
                "| 256 | 50 | 20,000 | 4.31 | 4,636 | 5,120 | 91% |",
                # scaling: speed-up vs 1 worker on the same partitions
                "| 3 | 12 | 30,000 | 1.00 | 30,000 | 2.00x |",
                "| 2 | 3 | 30,000 | 1.50 | 20,000 | 1.33x |",
                # gateway beside raw, ratio at each rate
                "| 1,000/s (target) | p99 (ms) | 10.0 | 25.0 | 2.50x |",
                "| 500/s | p50 (ms) | 5.00 | 6.00 | 1.20x |",
                "| 2,500/s | p99 (ms) | 20.0 | - | - |",
                "| 2,000/s | requests / errors | 20,000 / 0 | 20,000 / 2 |  |",
                "| gateway | 3,000 | 30.0 | 80.0 | 0 | 0.30x |",
                # memory in MiB
                "| order-gateway | waiting_10000 | 127.0 | 136.7 | < 128 |",
                # cpu
                "| decode | 1,500 |",
                "| order-worker | 200,000 | 6.40 | 3.20 |",
                # history before/after
                "| 2026-11-29 | max.in.flight 1 for every idempotent producer | "
                "100,000 orders placed (s) | 1.31 | 1.12 | s | 0.85x |",
                "| 2026-11-29 | worker.max_buffered default 10,000 (was 1,000) | "
                "zero-latency pipeline (orders/s) | 1,350 | 21,000 | orders/s | 15.56x |"):
            self.assertIn(row, report)
        self.assertIn("- machine: Debian GNU/Linux 12 (bookworm), 2 cores, 4 GiB", report)
        self.assertIn("- librdkafka: 2.0.2", report)
        self.assertNotIn("Smoke run", report)

    def test_smoke_warning(self):
        self.write("run.txt", RUN.replace("smoke=0", "smoke=1"))
        _, report = self.ok()
        self.assertIn("**Smoke run**", report)
        self.assertIn("## Targets (smoke run: not meaningful)", report)
        self.assertLess(report.index("Smoke run"), report.index("## Targets"))

    @unittest.skipUnless(shutil.which("gnuplot"), "gnuplot is missing "
                         "(deploy/install-deps.sh deploy/packages-bench.txt)")
    def test_every_plot_is_a_linked_png(self):
        _, report = self.ok()
        links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", report)
        self.assertEqual(sorted(links), sorted(f"{p}.png" for p in PLOTS))
        for name in PLOTS:
            with open(os.path.join(self.out, name + ".png"), "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC, f"{name}.png is not a PNG")
            for ext in (".gp", ".dat"):
                self.assertTrue(os.path.isfile(os.path.join(self.out, name + ext)), name + ext)
        # the script draws the plot again from its directory
        os.remove(os.path.join(self.out, "scaling.png"))
        subprocess.run(["gnuplot", "scaling.gp"], cwd=self.out, check=True, timeout=60)
        with open(os.path.join(self.out, "scaling.png"), "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC)
        # the CDF is drawn at the target rate, one line per path
        with open(os.path.join(self.out, "latency-cdf.gp")) as f:
            gp = f.read()
        self.assertIn("at 1,000 requests/s", gp)
        self.assertIn("'raw (2,000 requests)'", gp)
        self.assertIn("'gateway (2,000 requests)'", gp)

    def test_without_gnuplot_the_report_is_still_written(self):
        empty = os.path.join(self.tmp, "empty-path")
        os.mkdir(empty)
        p, report = self.ok(env=dict(os.environ, PATH=empty))
        self.assertIn("gnuplot is missing", p.stderr)
        self.assertNotIn("![", report)
        for name in PLOTS:
            self.assertFalse(os.path.exists(os.path.join(self.out, name + ".png")), name)
            self.assertTrue(os.path.isfile(os.path.join(self.out, name + ".gp")), name)
        self.assertEqual(len(self.targets(report)[0]), 5)

    # -- sections not run ---------------------------------------------------

    def test_missing_sections_are_left_out(self):
        os.remove(os.path.join(self.out, "memory.csv"))
        os.remove(os.path.join(self.out, "scaling.csv"))
        for name in ("memory", "scaling"):  # a previous run's plots must not stay linked
            for ext in (".png", ".gp", ".dat"):
                self.write(name + ext, "stale")
        _, report = self.ok()
        self.assertNotIn("## Memory", report)
        self.assertNotIn("## Scaling", report)
        self.assertIn("## Producer", report)
        self.assertNotIn("memory.png", report)
        for name in ("memory", "scaling"):
            for ext in (".png", ".gp", ".dat"):
                self.assertFalse(os.path.exists(os.path.join(self.out, name + ext)), name + ext)
        table, _ = self.targets(report)
        self.assertEqual(self.target(table, "order-worker peak RSS"),
                         ("-", "< 64 MiB", "not measured"))
        self.assertEqual(self.target(table, "order-gateway peak RSS")[2], "not measured")
        self.assertEqual(self.target(table, "order-producer records/s")[2], "met")

    def test_gateway_without_its_maximum_is_not_measured(self):
        os.remove(os.path.join(self.out, "gateway-max.csv"))
        _, report = self.ok()
        table, _ = self.targets(report)
        self.assertEqual(self.target(table, "gateway p99")[2], "not measured")
        self.assertIn("## Gateway", report)
        self.assertNotIn("(target)", report)

    def test_empty_run_with_the_committed_history(self):
        for name in os.listdir(self.out):
            os.remove(os.path.join(self.out, name))
        _, report = self.ok(history=False)  # tests/bench/history.csv
        table, _ = self.targets(report)
        self.assertEqual({v[2] for v in table.values()}, {"not measured"})
        self.assertIn("run.txt is missing", report)
        for section in ("Producer", "Pipeline", "Concurrency", "Scaling", "Gateway", "Memory",
                        "CPU"):
            self.assertNotIn(f"## {section}", report)
        self.assertIn("## History", report)
        self.assertIn("(tests/bench/history.csv)", report)
        self.assertIn("| 1.31 | 1.12 | s | 0.85x |", report)
        self.assertIn("| 1,350 | 21,000 | orders/s | 15.56x |", report)

    # -- broken input -------------------------------------------------------

    def test_malformed_value_names_file_and_line(self):
        self.write("producer.csv", FILES["producer.csv"].replace(
            "ProducerPerformance,100000,140,2.0,", "ProducerPerformance,100000,140,2.0s,"))
        self.fails(r"producer\.csv:3: seconds is '2\.0s', expected")

    def test_short_row_names_file_and_line(self):
        self.write("scaling.csv", FILES["scaling.csv"] + "2,12,30000\n")
        self.fails(r"scaling\.csv:8: 3 fields, expected 5")

    def test_bad_header_names_file(self):
        self.write("pipeline.csv", FILES["pipeline.csv"].replace("orders_per_s", "rate", 1))
        self.fails(r"pipeline\.csv:1: header is 'name,guarantee,orders,seconds,rate'")

    def test_unknown_name_names_file_and_line(self):
        self.write("memory.csv", FILES["memory.csv"].replace("order-worker,load",
                                                             "order-wroker,load"))
        self.fails(r"memory\.csv:3: program is 'order-wroker', expected one of")

    def test_empty_csv_is_an_error(self):
        self.write("cpu.csv", "")
        self.fails(r"cpu\.csv: empty")

    def test_malformed_latency_file_names_file_and_line(self):
        self.write("latency-gateway-1000.txt", "5.0\n6.1\nslow\n")
        self.fails(r"latency-gateway-1000\.txt:3: 'slow' is not a latency")

    def test_malformed_history_names_file(self):
        with open(self.history, "a") as f:
            f.write("yesterday,x,y,1,2,s\n")
        self.fails(r"history\.csv:4: date is 'yesterday', expected a date")

    def test_missing_explicit_history_is_an_error(self):
        os.remove(self.history)
        self.fails(r"history\.csv: no such file")


if __name__ == "__main__":
    unittest.main(verbosity=2)

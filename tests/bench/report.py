#!/usr/bin/env python3
"""The report of the benchmark (tests/bench/bench.sh): turns the CSVs the
sections left in OUT_DIR into OUT_DIR/report.md and PNG plots.

    report.py OUT_DIR [--history FILE]

Reads every file of the contract that exists (SCHEMAS below has the
columns of each CSV; tests/bench/lib.sh the conventions): producer.csv, pipeline.csv,
concurrency.csv, scaling.csv, gateway.csv, gateway-max.csv, memory.csv,
cpu.csv, cpu-seconds.csv, run.txt, latency-<path>-<rate>.txt, and the
committed history (tests/bench/history.csv next to this file, or --history).
A section that was not run is left out. A file with a wrong header or a
malformed row is an error that names the file and the line, and nothing is
written.

Writes OUT_DIR/report.md (the Targets table first), OUT_DIR/targets.md (the
same Targets table alone, to copy into the README) and, per plot, NAME.dat
(the data), NAME.gp (the gnuplot script: `cd OUT_DIR && gnuplot NAME.gp`
draws it again) and NAME.png. The Targets table is also printed on stdout.

Exit status: 0 whether or not the targets are met (the suite measures; it
does not fail the build); 1 for broken input or a plot gnuplot refused; 2
for a wrong command line. Standard library only; gnuplot runs as a
subprocess, and without gnuplot the scripts and data are still written.
"""
import argparse
import csv
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KIB_PER_MIB = 1024
WORKER_LIMIT_MIB = 64
GATEWAY_LIMIT_MIB = 128
WAITING_STATE = "waiting_10000"
PNG_WIDTH, PNG_HEIGHT = 900, 500


class InputError(Exception):
    """Broken input: the message names the file (and line) and what is wrong."""


# ---------------------------------------------------------------------------
# Reading the input
# ---------------------------------------------------------------------------

def kind_int(text):
    if not re.fullmatch(r"\d+", text):
        raise ValueError("a non-negative integer")
    return int(text)


def kind_float(text):
    try:
        v = float(text)
    except ValueError:
        raise ValueError("a number") from None
    if not math.isfinite(v) or v < 0 or not re.fullmatch(r"[0-9.eE+-]+", text):
        raise ValueError("a finite non-negative number")
    return v


def kind_text(text):
    if not text.strip():
        raise ValueError("a non-empty text")
    return text


def one_of(*values):
    def kind(text):
        if text not in values:
            raise ValueError("one of " + ", ".join(f"'{v}'" for v in values))
        return text
    return kind


def matching(regex, what):
    def kind(text):
        if not re.fullmatch(regex, text):
            raise ValueError(what)
        return text
    return kind


def kind_date(text):
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError("a date YYYY-MM-DD")
    return text


TOOLS = ("order-producer", "ProducerPerformance", "ProducerPerformance in-flight 1", "kcat")
PIPELINE_NAMES = ("orderfleet", "ProducerPerformance", "ConsumerPerformance")
GUARANTEES = ("at_least_once", "exactly_once", "-")
PATHS = ("raw", "gateway")
PROGRAMS = ("order-worker", "order-gateway")
STATES = matching(r"idle|load|waiting_\d+", "one of 'idle', 'load', 'waiting_N'")
# "handle": the built-in handler's validation and pricing, one call (fulfillment_price)
STAGES = ("encode", "decode", "handle")

# The contract: file -> its columns, each with how its text is read.
SCHEMAS = {
    "producer.csv": [("tool", one_of(*TOOLS)), ("records", kind_int),
                     ("record_bytes", kind_int), ("seconds", kind_float),
                     ("records_per_s", kind_float), ("mb_per_s", kind_float)],
    "pipeline.csv": [("name", one_of(*PIPELINE_NAMES)), ("guarantee", one_of(*GUARANTEES)),
                     ("orders", kind_int), ("seconds", kind_float),
                     ("orders_per_s", kind_float)],
    "pipeline-cpu.csv": [("run", one_of("at_least_once", "ProducerPerformance")),
                         ("process", kind_text), ("records", kind_int),
                         ("cpu_seconds", kind_float)],
    "concurrency.csv": [("concurrency", kind_int), ("latency_ms", kind_float),
                        ("orders", kind_int), ("seconds", kind_float),
                        ("orders_per_s", kind_float), ("ideal_per_s", kind_float)],
    "scaling.csv": [("workers", kind_int), ("partitions", kind_int), ("orders", kind_int),
                    ("seconds", kind_float), ("orders_per_s", kind_float)],
    "gateway.csv": [("path", one_of(*PATHS)), ("rate", kind_float), ("requests", kind_int),
                    ("p50_ms", kind_float), ("p90_ms", kind_float), ("p99_ms", kind_float),
                    ("p999_ms", kind_float), ("max_ms", kind_float), ("errors", kind_int)],
    "gateway-max.csv": [("path", one_of(*PATHS)), ("requests_per_s", kind_float),
                        ("p50_ms", kind_float), ("p99_ms", kind_float), ("errors", kind_int)],
    "memory.csv": [("program", one_of(*PROGRAMS)), ("state", STATES),
                   ("rss_kib", kind_int), ("peak_rss_kib", kind_int)],
    "cpu.csv": [("stage", one_of(*STAGES)), ("instructions_per_order", kind_float)],
    "cpu-seconds.csv": [("program", kind_text), ("orders", kind_int),
                        ("cpu_seconds", kind_float), ("cpu_seconds_per_100k", kind_float)],
    "history.csv": [("date", kind_date), ("change", kind_text), ("measure", kind_text),
                    ("before", kind_float), ("after", kind_float), ("unit", kind_text)],
}


def read_csv(path, schema):
    """The rows of the CSV at path as dicts of typed values, checked against
    schema (header exactly the column names, every row every column, each
    value of its kind). Raises InputError naming path and line."""
    names = [name for name, _ in schema]
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty, expected the header line {','.join(names)}")
            if header != names:
                raise InputError(f"{path}:1: header is '{','.join(header)}', "
                                 f"expected '{','.join(names)}'")
            for fields in reader:
                line = reader.line_num
                if len(fields) != len(names):
                    raise InputError(f"{path}:{line}: {len(fields)} fields, expected "
                                     f"{len(names)} ({','.join(names)})")
                row = {"_line": line}
                for (name, kind), text in zip(schema, fields):
                    try:
                        row[name] = kind(text)
                    except ValueError as e:
                        raise InputError(f"{path}:{line}: {name} is '{text}', expected {e}") \
                            from None
                rows.append(row)
        except csv.Error as e:
            raise InputError(f"{path}:{reader.line_num}: {e}") from None
    return rows


def check_pipeline(path, rows):
    """orderfleet rows name their guarantee; the reference tools' rows have '-'."""
    for r in rows:
        if (r["name"] == "orderfleet") != (r["guarantee"] != "-"):
            want = "at_least_once or exactly_once" if r["name"] == "orderfleet" else "-"
            raise InputError(f"{path}:{r['_line']}: guarantee of {r['name']} is "
                             f"'{r['guarantee']}', expected {want}")


def read_run(path):
    """run.txt as an ordered list of (key, value)."""
    items = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
                raise InputError(f"{path}:{n}: '{line}' is not a key=value line")
            items.append((key, value))
    return items


def read_latencies(path):
    """The latencies (ms) of latency-<path>-<rate>.txt, sorted."""
    values = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            try:
                values.append(kind_float(text))
            except ValueError as e:
                raise InputError(f"{path}:{n}: '{text}' is not a latency, expected {e}") \
                    from None
    values.sort()
    return values


def load(out, history):
    """Everything of the contract in out that exists, and the history file if
    it exists, parsed: {file name: rows, "run": dict or None, "latency_files":
    {(path, rate): file}}. Raises InputError."""
    data = {}
    for name, schema in SCHEMAS.items():
        path = history if name == "history.csv" else os.path.join(out, name)
        if os.path.isfile(path):
            data[name] = read_csv(path, schema)
    if "pipeline.csv" in data:
        check_pipeline(os.path.join(out, "pipeline.csv"), data["pipeline.csv"])
    run_path = os.path.join(out, "run.txt")
    data["run"] = dict(read_run(run_path)) if os.path.isfile(run_path) else None
    data["latency_files"] = {}
    for entry in sorted(os.listdir(out)):
        m = re.fullmatch(r"latency-(raw|gateway)-([0-9]+(?:\.[0-9]+)?)\.txt", entry)
        if m:
            data["latency_files"][(m.group(1), float(m.group(2)))] = os.path.join(out, entry)
    return data


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------

def num(x):
    """A measurement for a table: thousands separated from 100 up, else a few decimals."""
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def rate_text(x):
    """A request rate: whole numbers without decimals (1,000), others as num()."""
    return f"{int(x):,}" if float(x).is_integer() else num(x)


def ratio(a, b):
    """a / b, or None when b is missing or zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def times(r):
    return "-" if r is None else f"{r:.2f}x"


def pct(r):
    return "-" if r is None else f"{r:.0%}"


def mib(kib):
    return kib / KIB_PER_MIB


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header, rows, align=None):
    """A Markdown table; align is a string of 'l'/'r' per column (default: first
    column left, the rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)


def median_of(rows, key, **match):
    """The median of key over the rows matching every field of match, or None."""
    values = [r[key] for r in rows if all(r[k] == v for k, v in match.items())]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------

def gateway_target_rate(data):
    """The rate of gateway.csv, among those with both a raw and a gateway row,
    closest to half of gateway-max's gateway rate (the lower on a tie); None
    when either file or such a rate is missing."""
    gw, mx = data.get("gateway.csv"), data.get("gateway-max.csv")
    if not gw or not mx:
        return None
    maxima = [r["requests_per_s"] for r in mx if r["path"] == "gateway"]
    if not maxima:
        return None
    half = max(maxima) / 2
    both = sorted({r["rate"] for r in gw if r["path"] == "raw"} &
                  {r["rate"] for r in gw if r["path"] == "gateway"})
    if not both:
        return None
    return min(both, key=lambda rate: (abs(rate - half), rate))


def targets(data):
    """The targets of issue 7 as rows (target, measured, goal, result), result
    being 'met', 'not met' or 'not measured'."""
    rows = []

    def add(target, goal, value, measured, met):
        if value is None:
            rows.append((target, measured or "-", goal, "not measured"))
        else:
            rows.append((target, measured, goal, "met" if met(value) else "not met"))

    # producer: order-producer vs ProducerPerformance, record size by record size
    prod = data.get("producer.csv") or []
    worst, measured = None, None
    for size in sorted({r["record_bytes"] for r in prod if r["tool"] == "order-producer"}):
        ours = median_of(prod, "records_per_s", tool="order-producer", record_bytes=size)
        ref = median_of(prod, "records_per_s", tool="ProducerPerformance", record_bytes=size)
        r = ratio(ours, ref)
        if r is not None and (worst is None or r < worst):
            worst = r
            measured = f"{times(r)} at {size} B ({num(ours)} vs {num(ref)} records/s)"
    add("order-producer records/s vs ProducerPerformance (same record size, acks=all)",
        ">= 1.00x", worst, measured, lambda v: v >= 1.0)

    # pipeline: at_least_once vs the broker's produce ceiling
    pipe = data.get("pipeline.csv") or []
    ours = median_of(pipe, "orders_per_s", name="orderfleet", guarantee="at_least_once")
    ref = median_of(pipe, "orders_per_s", name="ProducerPerformance")
    r = ratio(ours, ref)
    add("pipeline at_least_once orders/s vs ProducerPerformance (the produce ceiling)",
        ">= 0.50x", r, r is not None and f"{times(r)} ({num(ours)} vs {num(ref)}/s)",
        lambda v: v >= 0.5)

    # gateway p99 vs raw p99 at half the gateway's maximum rate
    rate = gateway_target_rate(data)
    r, measured = None, None
    if rate is not None:
        gw = data["gateway.csv"]
        raw_p99 = median_of(gw, "p99_ms", path="raw", rate=rate)
        gw_p99 = median_of(gw, "p99_ms", path="gateway", rate=rate)
        errors = sum(x["errors"] for x in gw if x["rate"] == rate)
        # a path whose every request failed has no latency to compare
        answered = all(sum(x["requests"] - min(x["errors"], x["requests"]) for x in gw
                           if x["rate"] == rate and x["path"] == p) > 0 for p in PATHS)
        r = ratio(gw_p99, raw_p99) if answered else None
        measured = (f"{times(r)} at {rate_text(rate)}/s ({num(gw_p99)} vs {num(raw_p99)} ms"
                    + (f"; {num(errors)} errors" if errors else "") + ")")
        if not answered:
            measured = (f"no request answered on a path at {rate_text(rate)}/s "
                        f"({num(errors)} errors)")
    add("gateway p99 vs raw round-trip p99 at half the gateway's maximum rate",
        "<= 3.00x", r, measured, lambda v: v <= 3.0)

    # memory
    mem = data.get("memory.csv") or []
    for program, state, limit, what in (
            ("order-worker", "load", WORKER_LIMIT_MIB, "order-worker peak RSS under load"),
            ("order-gateway", WAITING_STATE, GATEWAY_LIMIT_MIB,
             "order-gateway peak RSS with 10,000 requests waiting")):
        peaks = [x["peak_rss_kib"] for x in mem if x["program"] == program and x["state"] == state]
        peak = mib(max(peaks)) if peaks else None
        add(what, f"< {limit} MiB", peak, peak is not None and f"{peak:.1f} MiB",
            lambda v, limit=limit: v < limit)
    return rows


def targets_table(rows):
    return table(("target", "measured", "goal", "result"), rows, "llll")


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def gp_str(text):
    """A double-quoted gnuplot string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dat_label(text):
    """A label in a .dat file (gnuplot reads double-quoted fields as one column)."""
    return '"' + str(text).replace('"', "'") + '"'


class Plotter:
    """Writes NAME.dat and NAME.gp into out and runs gnuplot on them (cwd out,
    so the script can be re-run from there). Without gnuplot only the files
    are written. Failures are collected in self.failed."""

    def __init__(self, out):
        self.out = out
        self.gnuplot = shutil.which("gnuplot")
        self.terminal = None
        self.failed = []

    def _terminal(self):
        """pngcairo when gnuplot has it, else png (libgd); asked once."""
        if self.terminal is None:
            self.terminal = "png"
            if self.gnuplot:
                p = subprocess.run([self.gnuplot, "-e", "set terminal"], capture_output=True,
                                   text=True)
                if re.search(r"^\s*pngcairo\s", p.stdout + p.stderr, re.M):
                    self.terminal = "pngcairo"
        return self.terminal

    def remove(self, name):
        """Drops a plot's files left by an earlier run (its data is missing now)."""
        for ext in (".png", ".gp", ".dat"):
            try:
                os.remove(os.path.join(self.out, name + ext))
            except FileNotFoundError:
                pass

    def plot(self, name, dat, body, height=PNG_HEIGHT):
        """dat: the text of NAME.dat; body: gnuplot commands after the terminal
        and output lines. Returns NAME.png when drawn, else None."""
        with open(os.path.join(self.out, name + ".dat"), "w") as f:
            f.write(dat)
        script = (f"# {name}.png from {name}.dat (written by tests/bench/report.py);\n"
                  f"# run again with: gnuplot {name}.gp (in this directory)\n"
                  f"set terminal {self._terminal()} size {PNG_WIDTH},{height} noenhanced\n"
                  f"set output '{name}.png'\n"
                  "set grid ytics\nset key top left\nset border 3\nset tics nomirror\n"
                  + body + "\nunset output\n")
        with open(os.path.join(self.out, name + ".gp"), "w") as f:
            f.write(script)
        png = os.path.join(self.out, name + ".png")
        if not self.gnuplot:
            return None
        try:
            os.remove(png)
        except FileNotFoundError:
            pass
        p = subprocess.run([self.gnuplot, name + ".gp"], cwd=self.out, capture_output=True,
                           text=True)
        if p.returncode != 0 or not os.path.isfile(png):
            self.failed.append(f"{name}.gp: {p.stderr.strip() or 'no PNG written'}")
            return None
        return name + ".png"


def bars(plotter, name, title, ylabel, labels_values, extra_plots="", top=None):
    """A bar chart of (label, value), each value written above its bar; extra_plots
    (", f(x) ...", titled) are drawn over it with a key; top: the y axis's least top."""
    dat = "# label value shown\n" + "".join(f"{dat_label(l)} {v} {dat_label(num(v))}\n"
                                            for l, v in labels_values)
    top = max([v for _, v in labels_values] + [top or 0]) or 1
    body = (f"set title {gp_str(title)}\nset ylabel {gp_str(ylabel)}\n"
            "set style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.8\n"
            + ("set key top left\n" if extra_plots else "set key off\n")
            + f"set xrange [-0.6:{len(labels_values) - 0.4}]\n"
            f"set yrange [0:{top * 1.15:.6g}]\n"
            "set xtics rotate by -20\n"
            f"plot '{name}.dat' using 2:xtic(1) lc rgb '#4477aa' notitle, "
            "'' using 0:2:3 with labels offset 0,0.8 notitle"
            + extra_plots)
    return plotter.plot(name, dat, body)


def plot_producer(plotter, rows):
    sizes = {r["record_bytes"] for r in rows}
    data = [(r["tool"] if len(sizes) == 1 else f"{r['tool']}, {r['record_bytes']} B",
             r["records_per_s"]) for r in rows]
    return bars(plotter, "producer", "Producing: records/s (acks=all, idempotent)",
                "records/s", data)


def plot_pipeline(plotter, rows):
    data = [(r["name"] if r["guarantee"] == "-" else f"{r['name']} {r['guarantee']}",
             r["orders_per_s"]) for r in rows]
    return bars(plotter, "pipeline",
                "Zero-latency pipeline: orders/s (references: records/s)", "per second", data)


def plot_concurrency(plotter, rows):
    rows = sorted(rows, key=lambda r: r["concurrency"])
    lat = sorted({r["latency_ms"] for r in rows})
    dat = "# concurrency orders_per_s ideal_per_s\n" + "".join(
        f"{r['concurrency']} {r['orders_per_s']} {r['ideal_per_s']}\n" for r in rows)
    ymin = min(min(r["orders_per_s"], r["ideal_per_s"]) for r in rows)
    logy = "set logscale y 10\n" if ymin > 0 else ""
    title = f"Long-running tasks, one worker, {', '.join(f'{x:g}' for x in lat)} ms per order"
    body = (f"set title {gp_str(title)}\n"
            "set xlabel 'concurrency (log2)'\nset ylabel 'orders/s'\n"
            f"set logscale x 2\n{logy}"
            "plot 'concurrency.dat' using 1:3 with lines lw 2 dt 2 lc rgb '#999999' "
            "title 'ideal (concurrency / latency)', "
            "'' using 1:2 with linespoints lw 2 pt 7 lc rgb '#4477aa' title 'measured'")
    return plotter.plot("concurrency", dat, body)


def plot_scaling(plotter, rows):
    parts = sorted({r["partitions"] for r in rows})
    blocks, plots = [], []
    for i, p in enumerate(parts):
        block = sorted((r for r in rows if r["partitions"] == p), key=lambda r: r["workers"])
        blocks.append(f"# {p} partitions: workers orders_per_s\n"
                      + "".join(f"{r['workers']} {r['orders_per_s']}\n" for r in block))
        plots.append(f"'scaling.dat' index {i} using 1:2 with linespoints lw 2 pt 7 "
                     f"title '{p} partitions'")
    body = ("set title 'Scaling: orders/s against workers'\n"
            "set xlabel 'workers'\nset ylabel 'orders/s'\nset xtics 1\nset yrange [0:*]\n"
            f"set xrange [0.5:{max(r['workers'] for r in rows) + 0.5}]\n"
            "plot " + ", ".join(plots))
    return plotter.plot("scaling", "\n\n".join(blocks), body)


def plot_gateway(plotter, rows):
    blocks, plots = [], []
    styles = {"raw": "lc rgb '#4477aa'", "gateway": "lc rgb '#ee6677'"}
    paths = [p for p in PATHS if any(r["path"] == p for r in rows)]
    for i, path in enumerate(paths):
        block = sorted((r for r in rows if r["path"] == path), key=lambda r: r["rate"])
        blocks.append(f"# {path}: rate p50_ms p99_ms\n"
                      + "".join(f"{r['rate']} {r['p50_ms']} {r['p99_ms']}\n" for r in block))
        plots.append(f"'gateway.dat' index {i} using 1:2 with linespoints lw 2 pt 7 dt 2 "
                     f"{styles[path]} title '{path} p50'")
        plots.append(f"'gateway.dat' index {i} using 1:3 with linespoints lw 2 pt 5 "
                     f"{styles[path]} title '{path} p99'")
    body = ("set title 'Latency against the request rate: gateway (HTTP) and raw round trip'\n"
            "set xlabel 'requests/s'\nset ylabel 'latency (ms)'\nset yrange [0:*]\n"
            "plot " + ", ".join(plots))
    return plotter.plot("gateway", "\n\n".join(blocks), body)


def plot_cdf(plotter, series, rate):
    """series: [(path, sorted latencies)]; at most 2,000 points per path."""
    blocks, plots = [], []
    for i, (path, values) in enumerate(series):
        n = len(values)
        step = max(1, n // 2000)
        idx = list(range(0, n, step))
        if idx[-1] != n - 1:
            idx.append(n - 1)
        blocks.append(f"# {path} at {rate_text(rate)}/s: latency_ms fraction\n"
                      + "".join(f"{values[k]} {(k + 1) / n:.6f}\n" for k in idx))
        plots.append(f"'latency-cdf.dat' index {i} using 1:2 with steps lw 2 "
                     f"title '{path} ({num(n)} requests)'")
    logx = "set logscale x 10\n" if all(v[0] > 0 for _, v in series) else ""
    body = (f"set title {gp_str(f'Latency distribution at {rate_text(rate)} requests/s')}\n"
            f"set xlabel 'latency (ms){' (log)' if logx else ''}'\n"
            f"set ylabel 'fraction of requests'\n{logx}"
            "set yrange [0:1]\nset ytics 0.1\nset key bottom right\n"
            "plot " + ", ".join(plots))
    return plotter.plot("latency-cdf", "\n\n".join(blocks), body)


def plot_memory(plotter, rows):
    data = [(f"{r['program']} {r['state']}", round(mib(r["peak_rss_kib"]), 2)) for r in rows]
    limits = (f", {WORKER_LIMIT_MIB} with lines dt 2 lw 2 lc rgb '#228833' "
              f"title 'order-worker limit ({WORKER_LIMIT_MIB} MiB)', "
              f"{GATEWAY_LIMIT_MIB} with lines dt 2 lw 2 lc rgb '#ee6677' "
              f"title 'order-gateway limit ({GATEWAY_LIMIT_MIB} MiB)'")
    return bars(plotter, "memory", "Peak resident memory (VmHWM)", "MiB", data, limits,
                top=GATEWAY_LIMIT_MIB)


def wrap(text, width):
    """text broken into lines of at most width characters at spaces."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def plot_history(plotter, rows):
    """One panel per recorded change: its before and after bars, in its unit."""
    cols = min(len(rows), 3)
    nrows = -(-len(rows) // cols)
    blocks, panels = [], []
    for i, r in enumerate(rows):
        blocks.append(f"# {r['date']} {r['change']}: label value shown\n"
                      f"\"before\" {r['before']} {dat_label(num(r['before']))}\n"
                      f"\"after\" {r['after']} {dat_label(num(r['after']))}\n")
        top = max(r["before"], r["after"]) or 1
        panels.append(
            f"set title {gp_str(r['date'] + chr(10) + wrap(r['change'], 40))}\n"
            f"set ylabel {gp_str(r['measure'])}\n"
            f"set yrange [0:{top * 1.2:.6g}]\n"
            f"plot 'history.dat' index {i} using 2:xtic(1) lc rgb '#4477aa', "
            f"'' index {i} using 0:2:3 with labels offset 0,0.8 notitle")
    body = ("set style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.6\nset key off\n"
            "set xrange [-0.6:1.6]\n"
            f"set multiplot layout {nrows},{cols} "
            "title 'Recorded optimisations: before and after'\n"
            + "\n".join(panels) + "\nunset multiplot")
    return plotter.plot("history", "\n\n".join(blocks), body, height=PNG_HEIGHT * nrows)


# ---------------------------------------------------------------------------
# The sections of report.md
# ---------------------------------------------------------------------------

def section_producer(rows, plotter):
    ref = {}
    for tool in ("ProducerPerformance", "ProducerPerformance in-flight 1", "kcat"):
        for size in {r["record_bytes"] for r in rows}:
            ref[tool, size] = median_of(rows, "records_per_s", tool=tool, record_bytes=size)
    inflight = any(r["tool"] == "ProducerPerformance in-flight 1" for r in rows)
    header = ["tool", "records", "record bytes", "seconds", "records/s", "MB/s",
              "/ ProducerPerformance"] + (["/ in-flight 1"] if inflight else []) + ["/ kcat"]
    body = []
    for r in rows:
        size = r["record_bytes"]
        line = [r["tool"], num(r["records"]), num(size), num(r["seconds"]),
                num(r["records_per_s"]), num(r["mb_per_s"]),
                times(ratio(r["records_per_s"], ref["ProducerPerformance", size]))]
        if inflight:
            line.append(times(ratio(r["records_per_s"],
                                    ref["ProducerPerformance in-flight 1", size])))
        line.append(times(ratio(r["records_per_s"], ref["kcat", size])))
        body.append(line)
    text = ["## Producer", "",
            "order-producer load against Kafka's ProducerPerformance and kcat: same record "
            "size, acks=all, idempotent. Ratios are against the reference tool's median at "
            "the same record size in this run.", "", table(header, body)]
    if inflight:
        text += ["", "`ProducerPerformance in-flight 1` has order-producer's setting "
                 "(max.in.flight.requests.per.connection=1, see docs/decisions.md); the "
                 "target compares with plain ProducerPerformance."]
    return text, [("Producing: records/s", plot_producer(plotter, rows))]


def cores_of(run):
    """The machine's core count from run.txt's machine line, or None."""
    m = re.search(r"(\d+) cores", (run or {}).get("machine", ""))
    return int(m.group(1)) if m else None


def pipeline_cpu_text(cpu_rows, pipe_rows, cores):
    """Where the CPU goes: per process, CPU microseconds per order (per record
    for ProducerPerformance), and the throughput the machine's cores would
    bound each run to if the processes shared them perfectly."""
    text = ["", "### Where the CPU goes", "",
            "CPU seconds of every process of a run (the broker's JVM included) per order "
            "(per record for ProducerPerformance). The programs and the broker share "
            f"this machine's {cores or '?'} cores, so the sum bounds the throughput: "
            "cores x 1,000,000 / (µs per order)."]
    for run, label, name in (("at_least_once", "pipeline, at_least_once", "orderfleet"),
                             ("ProducerPerformance", "ProducerPerformance alone",
                              "ProducerPerformance")):
        rows = [r for r in cpu_rows if r["run"] == run]
        if not rows:
            continue
        total = sum(r["cpu_seconds"] * 1e6 / r["records"] for r in rows if r["records"])
        body = [[r["process"], num(r["cpu_seconds"]),
                 num(r["cpu_seconds"] * 1e6 / r["records"]) if r["records"] else "-",
                 pct(ratio(r["cpu_seconds"] * 1e6 / r["records"], total))
                 if r["records"] else "-"] for r in rows]
        body.append(["**total**", num(sum(r["cpu_seconds"] for r in rows)), num(total), ""])
        measured = median_of(pipe_rows, "orders_per_s", name=name,
                             **({"guarantee": run} if name == "orderfleet" else {}))
        bound = cores * 1e6 / total if cores and total else None
        text += ["", f"{label}: measured {num(measured)}/s; the CPU bound on {cores or '?'} "
                 f"cores is {num(bound)}/s.", "",
                 table(["process", "CPU s", "µs per order", "share"], body)]
    return text


def section_pipeline(rows, plotter, cpu_rows=None, run=None):
    pp = median_of(rows, "orders_per_s", name="ProducerPerformance")
    cp = median_of(rows, "orders_per_s", name="ConsumerPerformance")
    body = [[r["name"], r["guarantee"], num(r["orders"]), num(r["seconds"]),
             num(r["orders_per_s"]), times(ratio(r["orders_per_s"], pp)),
             times(ratio(r["orders_per_s"], cp))] for r in rows]
    text = ["## Pipeline", "",
            "Producer -> worker -> outcome at zero handler latency, from the first order "
            "placed to the last outcome, in both guarantees; ProducerPerformance and "
            "ConsumerPerformance (records/s) are the broker's ceilings for producing and "
            "consuming alone.", "",
            table(["name", "guarantee", "orders", "seconds", "orders/s",
                   "/ ProducerPerformance", "/ ConsumerPerformance"], body, "llrrrrr")]
    if cpu_rows:
        text += pipeline_cpu_text(cpu_rows, rows, cores_of(run))
    return text, [("Pipeline: orders/s", plot_pipeline(plotter, rows))]


def section_concurrency(rows, plotter):
    body = [[num(r["concurrency"]), f"{r['latency_ms']:g}", num(r["orders"]), num(r["seconds"]),
             num(r["orders_per_s"]), num(r["ideal_per_s"]),
             pct(ratio(r["orders_per_s"], r["ideal_per_s"]))]
            for r in sorted(rows, key=lambda r: r["concurrency"])]
    text = ["## Concurrency", "",
            "Long-running tasks: one worker, a fixed handler latency per order; the ideal "
            "is concurrency / latency. A little over 100% is the placing overlapping the "
            "work.", "",
            table(["concurrency", "latency (ms)", "orders", "seconds", "orders/s", "ideal/s",
                   "of the ideal"], body)]
    return text, [("Concurrency: measured against the ideal", plot_concurrency(plotter, rows))]


def section_scaling(rows, plotter):
    body = []
    for r in sorted(rows, key=lambda r: (r["partitions"], r["workers"])):
        one = median_of(rows, "orders_per_s", workers=1, partitions=r["partitions"])
        body.append([num(r["workers"]), num(r["partitions"]), num(r["orders"]),
                     num(r["seconds"]), num(r["orders_per_s"]),
                     times(ratio(r["orders_per_s"], one))])
    text = ["## Scaling", "",
            "Throughput against the number of workers in one group; the speed-up is against "
            "one worker on the same number of partitions (all on this one machine, so it "
            "shows contention as much as scaling).", "",
            table(["workers", "partitions", "orders", "seconds", "orders/s",
                   "speed-up vs 1 worker"], body)]
    return text, [("Scaling: orders/s against workers", plot_scaling(plotter, rows))]


def section_gateway(data, plotter, target_rate, cdf_rate, cdf):
    text, plots = ["## Gateway", ""], []
    rows = data.get("gateway.csv")
    if rows:
        text += ["Latency at fixed request rates: `raw` is order-producer load --wait "
                 "(produce -> worker -> reply -> consume, no HTTP), `gateway` is "
                 "POST /v1/orders at the same rate.", ""]
        body = []
        for rate in sorted({r["rate"] for r in rows}):
            raw = {k: median_of(rows, k, path="raw", rate=rate)
                   for k in ("requests", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")}
            gw = {k: median_of(rows, k, path="gateway", rate=rate)
                  for k in ("requests", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")}
            mark = " (target)" if rate == target_rate else ""
            for k, what in (("p50_ms", "p50 (ms)"), ("p90_ms", "p90 (ms)"),
                            ("p99_ms", "p99 (ms)"), ("p999_ms", "p99.9 (ms)"),
                            ("max_ms", "max (ms)")):
                body.append([f"{rate_text(rate)}/s{mark}", what, num(raw[k]), num(gw[k]),
                             times(ratio(gw[k], raw[k]))])
            errs = [sum(r["errors"] for r in rows if r["path"] == p and r["rate"] == rate)
                    if any(r["path"] == p and r["rate"] == rate for r in rows) else None
                    for p in PATHS]
            body.append([f"{rate_text(rate)}/s{mark}", "requests / errors",
                         f"{num(raw['requests'])} / {num(errs[0])}",
                         f"{num(gw['requests'])} / {num(errs[1])}", ""])
        text += [table(["rate", "", "raw round trip", "gateway (HTTP)", "gateway / raw"],
                       body, "llrrr")]
        plots.append(("Latency against the request rate", plot_gateway(plotter, rows)))
    mx = data.get("gateway-max.csv")
    if mx:
        raw_max = median_of(mx, "requests_per_s", path="raw")
        body = [[r["path"], num(r["requests_per_s"]), num(r["p50_ms"]), num(r["p99_ms"]),
                 num(r["errors"]),
                 times(ratio(r["requests_per_s"], raw_max)) if r["path"] == "gateway" else ""]
                for r in mx]
        text += ["", "The maximum rate (closed loop for the gateway):", "",
                 table(["path", "requests/s", "p50 (ms)", "p99 (ms)", "errors",
                        "gateway / raw"], body)]
    if target_rate is not None:
        text += ["", f"The target rate is {rate_text(target_rate)}/s: of the rates measured "
                 "on both paths, the closest to half of the gateway's maximum."]
    if cdf:
        plots.append((f"Latency CDF at {rate_text(cdf_rate)}/s", plot_cdf(plotter, cdf, cdf_rate)))
    else:
        plotter.remove("latency-cdf")
    return text, plots


def cdf_series(data, target_rate):
    """The rate for the CDF plot (the target rate, else the highest rate with a
    latency file for the most paths) and its [(path, sorted latencies)]."""
    files = data["latency_files"]
    rates = {rate for _, rate in files}
    if not rates:
        return None, []
    if target_rate is not None and target_rate in rates:
        rate = target_rate
    else:
        rate = max(rates, key=lambda x: (sum((p, x) in files for p in PATHS), x))
    series = [(p, read_latencies(files[p, rate])) for p in PATHS if (p, rate) in files]
    return rate, [(p, v) for p, v in series if v]


def section_memory(rows, plotter):
    limits = {"order-worker": WORKER_LIMIT_MIB, "order-gateway": GATEWAY_LIMIT_MIB}
    body = [[r["program"], r["state"], f"{mib(r['rss_kib']):.1f}",
             f"{mib(r['peak_rss_kib']):.1f}",
             f"< {limits[r['program']]}" if (r["program"], r["state"]) in
             (("order-worker", "load"), ("order-gateway", WAITING_STATE)) else ""]
            for r in rows]
    text = ["## Memory", "",
            "Resident memory (VmRSS) when measured and its peak (VmHWM) so far, in MiB.", "",
            table(["program", "state", "RSS (MiB)", "peak RSS (MiB)", "limit (MiB)"], body,
                  "llrrr")]
    return text, [("Peak resident memory", plot_memory(plotter, rows))]


def section_cpu(data):
    text = ["## CPU"]
    rows = data.get("cpu.csv")
    if rows:
        text += ["", "Instructions per order of each stage (callgrind, the stage alone in a "
                 "loop):", "", table(["stage", "instructions per order"],
                                     [[r["stage"], num(r["instructions_per_order"])]
                                      for r in rows])]
    rows = data.get("cpu-seconds.csv")
    if rows:
        text += ["", "CPU time (user + system) of each program for its run:", "",
                 table(["program", "orders", "CPU seconds", "CPU seconds per 100k orders"],
                       [[r["program"], num(r["orders"]), num(r["cpu_seconds"]),
                         num(r["cpu_seconds_per_100k"])] for r in rows])]
    return text, []


def shown_path(path):
    """path relative to the source tree when inside it (tests/bench/history.csv)."""
    root = os.path.dirname(os.path.dirname(HERE))
    rel = os.path.relpath(os.path.abspath(path), root)
    return path if rel.startswith("..") else rel


def section_history(rows, plotter, path):
    body = [[r["date"], r["change"], r["measure"], num(r["before"]), num(r["after"]), r["unit"],
             times(ratio(r["after"], r["before"]))] for r in rows]
    text = ["## History", "",
            f"Optimisations recorded by hand ({shown_path(path)}): what each change moved, "
            "before and after, on the machine of its day.", "",
            table(["date", "change", "measure", "before", "after", "unit", "after / before"],
                  body, "lllrrlr")]
    return text, [("History: before and after", plot_history(plotter, rows))]


def header(run):
    text = ["# orderfleet benchmark", ""]
    if run is None:
        text += ["(run.txt is missing: the date and machine of this run are unknown.)"]
        return text
    labels = {"date": "date", "machine": "machine", "cpu": "cpu", "librdkafka": "librdkafka",
              "kafka": "Kafka"}
    for key, value in run.items():
        if key != "smoke":
            text.append(f"- {labels.get(key, key)}: {value}")
    if run.get("smoke") == "1":
        text += ["", "> **Smoke run** (make bench-smoke): every section ran small. The numbers "
                 "mean nothing; this run only proves the harness. Do not compare or copy them."]
    return text


def build(out, history):
    """report.md's text, the Targets table, and the Plotter (its failures).
    Every input is read before anything is drawn, so broken input (InputError)
    leaves no new files."""
    data = load(out, history)
    target_rows = targets(data)
    target_rate = gateway_target_rate(data)
    cdf_rate, cdf = cdf_series(data, target_rate)
    plotter = Plotter(out)
    smoke = (data["run"] or {}).get("smoke") == "1"

    text = header(data["run"])
    text += ["", "## Targets" + (" (smoke run: not meaningful)" if smoke else ""), "",
             "Issue 7's targets, as ratios to the reference tools measured in the same run.",
             "", targets_table(target_rows)]

    sections = []
    for csv_name, fn, plots in (("producer.csv", section_producer, ("producer",)),
                                ("pipeline.csv",
                                 lambda rows, pl: section_pipeline(
                                     rows, pl, data.get("pipeline-cpu.csv"), data["run"]),
                                 ("pipeline",)),
                                ("concurrency.csv", section_concurrency, ("concurrency",)),
                                ("scaling.csv", section_scaling, ("scaling",))):
        if data.get(csv_name):
            sections.append(fn(data[csv_name], plotter))
        else:
            for p in plots:
                plotter.remove(p)
    if data.get("gateway.csv") or data.get("gateway-max.csv") or cdf:
        if not data.get("gateway.csv"):
            plotter.remove("gateway")
        sections.append(section_gateway(data, plotter, target_rate, cdf_rate, cdf))
    else:
        plotter.remove("gateway")
        plotter.remove("latency-cdf")
    if data.get("memory.csv"):
        sections.append(section_memory(data["memory.csv"], plotter))
    else:
        plotter.remove("memory")
    if data.get("cpu.csv") or data.get("cpu-seconds.csv"):
        sections.append(section_cpu(data))
    if data.get("history.csv"):
        sections.append(section_history(data["history.csv"], plotter, history))
    else:
        plotter.remove("history")

    for lines, plots in sections:
        text += [""] + lines
        for title, png in plots:
            if png:
                text += ["", f"![{title}]({png})"]
    if not plotter.gnuplot:
        text += ["", "(gnuplot is missing: no plots were drawn; the .gp scripts and .dat "
                 "files are here, `gnuplot NAME.gp` draws one.)"]
    for failure in plotter.failed:
        text += ["", f"(plot failed: {failure.splitlines()[0]})"]
    return "\n".join(text) + "\n", targets_table(target_rows), plotter


def main():
    ap = argparse.ArgumentParser(description="Writes OUT_DIR/report.md and the plots of a "
                                 "benchmark run from the CSVs in OUT_DIR.")
    ap.add_argument("out", metavar="OUT_DIR")
    ap.add_argument("--history", metavar="FILE",
                    help="the committed history CSV (default: history.csv next to report.py)")
    args = ap.parse_args()
    if not os.path.isdir(args.out):
        ap.error(f"{args.out} is not a directory")
    history = args.history or os.path.join(HERE, "history.csv")
    if args.history and not os.path.isfile(history):
        print(f"report: {history}: no such file (--history)", file=sys.stderr)
        return 1
    try:
        report, targets_md, plotter = build(args.out, history)
    except InputError as e:
        print(f"report: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"report: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1
    for name, content in (("report.md", report), ("targets.md", targets_md + "\n")):
        tmp = os.path.join(args.out, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(content)
        os.replace(tmp, os.path.join(args.out, name))
    print(targets_md)
    if not plotter.gnuplot:
        print("report: gnuplot is missing: plots not drawn (scripts and data written)",
              file=sys.stderr)
    if plotter.failed:
        for failure in plotter.failed:
            print(f"report: gnuplot failed on {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The report of tests/bench/bench.sh: reads what the run left in OUT_DIR and
prints a Markdown table of the gateway next to the raw Kafka round trip.

    report.py OUT_DIR RATE DURATION CONNECTIONS WORKERS

Inputs: raw.log and rawmax.log (order-producer's logfmt summary lines "wait
finished" and "reply latency"), gateway.csv (hey -o csv: one row per request,
response time in seconds, status code), wrk.txt (the key/value lines of
post.lua's done()). Exits non-zero when a measurement is missing or a run had
errors, so `make bench` fails instead of printing a ratio of nothing."""
import csv
import json
import os
import re
import sys


def logfmt(path, msg):
    """The fields of the last line of path whose msg is msg, as a dict."""
    found = None
    with open(path) as f:
        for line in f:
            fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
            if fields.get("msg", "").strip('"') == msg:
                found = {k: v.strip('"') for k, v in fields.items()}
    if found is None:
        sys.exit(f"report: no '{msg}' line in {path}")
    return found


def percentile(sorted_values, q):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def raw_run(path):
    done = logfmt(path, "wait finished")
    lat = logfmt(path, "reply latency")
    answered = int(done["fulfilled"]) + int(done["rejected"]) + int(done["failed"])
    bad = int(done["timed_out"]) + int(done["not_sent"]) + int(done["bad_reply"])
    secs = int(done["elapsed_ms"]) / 1000.0
    return {
        "p50": float(lat["p50_ms"]), "p99": float(lat["p99_ms"]), "p999": float(lat["p999_ms"]),
        "rate": answered / secs if secs > 0 else 0.0, "count": answered, "errors": bad,
    }


def gateway_run(path):
    times, errors = [], 0
    with open(path) as f:
        for row in csv.DictReader(f):
            if row.get("status-code") != "201":
                errors += 1
                continue
            times.append(float(row["response-time"]) * 1000.0)
    times.sort()
    return {"p50": percentile(times, 0.50), "p99": percentile(times, 0.99),
            "p999": percentile(times, 0.999), "count": len(times), "errors": errors}


def wrk_run(path):
    kv = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and re.fullmatch(r"[\d.]+", parts[1]):
                kv[parts[0]] = float(parts[1])
    for key in ("requests", "seconds", "p50_us", "p99_us", "p999_us", "errors"):
        if key not in kv:
            sys.exit(f"report: wrk output in {path} lacks {key}")
    return {"rate": kv["requests"] / kv["seconds"], "p50": kv["p50_us"] / 1000.0,
            "p99": kv["p99_us"] / 1000.0, "p999": kv["p999_us"] / 1000.0,
            "errors": int(kv["errors"]), "count": int(kv["requests"])}


def ratio(a, b):
    return f"{a / b:.2f}x" if b > 0 else "-"


def main():
    out, rate, duration, connections, workers = sys.argv[1:6]
    raw = raw_run(f"{out}/raw.log")
    gw = gateway_run(f"{out}/gateway.csv")
    mx = wrk_run(f"{out}/wrk.txt")
    rawmax = raw_run(f"{out}/rawmax.log")

    print(f"# orderfleet bench: gateway vs raw Kafka round trip\n")
    print(f"One local Kafka 3.9 node, {workers} workers, one gateway; {rate} orders/s for "
          f"{duration} s at the fixed rate; wrk with {connections} connections for the maximum."
          "\n")
    print("| at a fixed rate | raw round trip | gateway (HTTP) | gateway / raw |")
    print("|---|---:|---:|---:|")
    for key, name in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
        print(f"| latency {name} (ms) | {raw[key]:.1f} | {gw[key]:.1f} | "
              f"{ratio(gw[key], raw[key])} |")
    print(f"| answered | {raw['count']} | {gw['count']} | |")
    print(f"| errors (not answered in time, or not 201) | {raw['errors']} | {gw['errors']} | |")
    print()
    print("| maximum rate | raw round trip | gateway (HTTP) | gateway / raw |")
    print("|---|---:|---:|---:|")
    print(f"| orders/s | {rawmax['rate']:.0f} | {mx['rate']:.0f} | "
          f"{ratio(mx['rate'], rawmax['rate'])} |")
    print(f"| errors | {rawmax['errors']} | {mx['errors']} | |")
    print()
    print(f"At its maximum the gateway answered with p50 {mx['p50']:.1f} ms, p99 {mx['p99']:.1f} ms, "
          f"p99.9 {mx['p999']:.1f} ms ({connections} connections, closed loop). The raw maximum "
          f"is open loop (every order in flight at once), so its latencies, p50 "
          f"{rawmax['p50']:.0f} ms, measure queueing, not the round trip, and are not compared.")
    print()
    print("raw: order-producer load --wait (produce -> worker -> reply -> consume, no HTTP). "
          "gateway: POST /v1/orders, 201 with the outcome (hey at the fixed rate, wrk for "
          "the maximum, keep-alive connections).")
    engine(out)
    if raw["errors"] or gw["errors"] or rawmax["errors"] or mx["errors"]:
        sys.exit("report: some requests were not answered in time (see the errors rows)")


def outcomes(out, name):
    """order-producer outcomes --json of one engine run, checked for loss."""
    with open(f"{out}/{name}.json") as f:
        o = json.load(f)
    if o["lost"] or o["throughputPerSecond"] is None:
        sys.exit(f"report: {name}: {o['lost']} orders without an outcome")
    return o


def engine(out):
    """The worker engine: long-running tasks against the ideal, and the
    zero-latency pipeline against Kafka's ProducerPerformance."""
    runs = sorted((int(m.group(2)), m.group(1)) for m in
                  (re.fullmatch(r"(long-c(\d+))\.json", f.name) for f in os.scandir(out))
                  if m)
    print()
    print("## The worker engine")
    print()
    print("(a) Long-running tasks: one worker, 50 ms handler latency, 12 partitions.")
    print()
    print("| concurrency | orders | orders/s | ideal (concurrency / 50 ms) | of the ideal |")
    print("|---:|---:|---:|---:|---:|")
    for c, name in runs:
        o = outcomes(out, name)
        ideal = c / 0.05
        print(f"| {c} | {o['ordersPlaced']} | {o['throughputPerSecond']:.0f} | {ideal:.0f} | "
              f"{o['throughputPerSecond'] / ideal:.0%} |")
    pp = None
    with open(f"{out}/producer-performance.txt") as f:
        for line in f:
            m = re.match(r"\s*(\d+) records sent, ([\d.]+) records/sec", line)
            if m:
                pp = float(m.group(2))
    if pp is None:
        sys.exit("report: no summary line in producer-performance.txt")
    print()
    print("(b) Zero-latency pipeline: one worker (64 threads), orders placed as fast as they "
          "go, first placed to last outcome; Kafka's ProducerPerformance (140-byte records, "
          "acks=all, idempotent) is the broker's ceiling for producing alone.")
    print()
    print("| | orders | orders/s | / ProducerPerformance |")
    print("|---|---:|---:|---:|")
    for g in ("at_least_once", "exactly_once"):
        o = outcomes(out, f"pipeline-{g}")
        print(f"| pipeline, {g} | {o['ordersPlaced']} | {o['throughputPerSecond']:.0f} | "
              f"{o['throughputPerSecond'] / pp:.2f} |")
    print(f"| ProducerPerformance | | {pp:.0f} | 1.00 |")


if __name__ == "__main__":
    main()

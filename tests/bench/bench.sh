#!/usr/bin/env bash
# make bench: orderfleet measured beside reference tools in the same run, on
# this machine, against a real Apache Kafka 3.9 node (deploy/kafka-local.sh).
#
#   tests/bench/bench.sh BIN_DIR [OUT_DIR] [--smoke]
#
# Sections (tests/bench/sections/*.sh), each writing OUT_DIR/<section>.csv:
#
#   producer     order-producer load vs Kafka's ProducerPerformance and kcat,
#                same record size, acks=all, idempotent
#   pipeline     producer -> worker -> outcome at zero handler latency, both
#                guarantees, vs ProducerPerformance + ConsumerPerformance
#   concurrency  long-running tasks: 50 ms per order, concurrency 1..512, one
#                worker, vs the ideal concurrency / 50 ms
#   scaling      throughput against workers (1, 2, 3) and partitions
#   gateway      latency at fixed request rates and the maximum rate, beside
#                the raw Kafka round trip (order-producer load --wait)
#   memory       peak RSS of the worker and the gateway: idle, under load, and
#                (gateway) with 10,000 waiting requests
#   cpu          instructions per order for encode, decode, validate and price
#                (callgrind), CPU seconds per 100,000 orders per program
#
# SECTIONS="producer gateway" runs some only. Then tests/bench/report.py
# writes OUT_DIR/report.md and the plots (PNG, gnuplot). --smoke (make
# bench-smoke, in CI) runs every section small, about two minutes: it proves
# the harness, and its numbers mean nothing. Ratios, not absolute numbers,
# are what to compare between machines.
set -euo pipefail

bin= out= smoke=0
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    -*) echo "bench.sh: unknown option $arg" >&2; exit 64 ;;
    *) if [ -z "$bin" ]; then bin=$arg; elif [ -z "$out" ]; then out=$arg;
       else echo "bench.sh: usage: bench.sh BIN_DIR [OUT_DIR] [--smoke]" >&2; exit 64; fi ;;
  esac
done
[ -n "$bin" ] || { echo "bench.sh: usage: bench.sh BIN_DIR [OUT_DIR] [--smoke]" >&2; exit 64; }
bin=$(cd "$bin" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${out:-$root/build/bench}
sections=${SECTIONS:-producer pipeline concurrency scaling gateway memory cpu}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.log "$out"/*.csv "$out"/*.txt "$out"/*.json "$out"/*.proc "$out"/*.png
kdir="$out/kafka"
pids=()
# shellcheck source=lib.sh
. "$root/tests/bench/lib.sh"

cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/deploy/kafka-local.sh" stop --dir "$kdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in wrk hey python3 kcat gnuplot valgrind; do
  command -v "$tool" >/dev/null || die "$tool is missing (make bench installs it: deploy/packages-bench.txt)"
done
for s in $sections; do
  [ -f "$root/tests/bench/sections/$s.sh" ] || die "no section $s (tests/bench/sections/)"
done

say "starting Apache Kafka (one node, $kdir)$([ "$smoke" = 1 ] && echo ', smoke run')"
b=$("$root/deploy/kafka-local.sh" start --dir "$kdir" | tail -n 1)
[ -n "$b" ] || die "kafka-local.sh printed no bootstrap servers"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine=$(. /etc/os-release && echo "$PRETTY_NAME"), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "librdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')"
  echo "kafka=$(basename "$(kafka_tools)")"
  echo "smoke=$smoke"
} >"$out/run.txt"

for s in $sections; do
  say "section $s"
  # shellcheck source=/dev/null
  . "$root/tests/bench/sections/$s.sh"
done

say "report"
python3 "$root/tests/bench/report.py" "$out"
say "report: $out/report.md"

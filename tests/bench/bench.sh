#!/usr/bin/env bash
# make bench: the gateway's latency and throughput against real Apache Kafka,
# next to the raw Kafka round trip measured in the same run.
#
#   tests/bench/bench.sh BIN_DIR [OUT_DIR]
#
# One local Kafka 3.9 node (deploy/kafka-local.sh), two order-workers and one
# order-gateway, all on this machine. Four measurements, in this order:
#
#   raw      order-producer load --wait at RATE orders/s: publish with reply
#            headers -> worker consumes, processes, replies -> reply consumed.
#            produce -> consume -> produce -> consume, no HTTP: the floor.
#   gateway  the same orders at the same RATE through POST /v1/orders (hey,
#            every latency kept in CSV): the counter model end to end.
#   max      wrk, closed loop, CONNECTIONS connections for DURATION: the
#            highest request rate the gateway sustains here.
#   raw max  order-producer load --wait as fast as it goes, for comparison.
#
# It prints p50/p99/p99.9 for raw and gateway at the fixed rate, and the
# maximum rates, each gateway figure also as a ratio to the raw one. Ratios,
# not absolute numbers, are what to compare between machines. The report is
# written to OUT_DIR/report.md (default build/bench/).
#
# Then the worker engine on topics of its own: (a) long-running tasks, one
# worker at 50 ms per order for each of CONCURRENCIES (default 1 16 64 256),
# against the ideal concurrency / 50 ms; (b) the zero-latency pipeline in both
# guarantees (PIPELINE_ORDERS, default 30000) against Kafka's own
# ProducerPerformance in the same run.
#
# Environment: RATE (default 200/s), DURATION (s, default 10), CONNECTIONS
# (default 128), WORKERS (default 2).
set -euo pipefail

bin=$(cd "${1:?usage: bench.sh BIN_DIR [OUT_DIR]}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$root/build/bench}
rate=${RATE:-200}
duration=${DURATION:-10}
connections=${CONNECTIONS:-128}
workers=${WORKERS:-2}
count=$((rate * duration))
mkdir -p "$out"
rm -f "$out"/*.log "$out"/*.csv "$out"/*.txt
kdir="$out/kafka"
pids=()

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/deploy/kafka-local.sh" stop --dir "$kdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in wrk hey python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (make bench installs it: deploy/packages-bench.txt)"
done

# Waits (up to $2 seconds) until file $1 holds a line matching regex $3.
wait_for_line() {
  local file=$1 secs=$2 re=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

say "starting Apache Kafka (one node, $kdir)"
b=$("$root/deploy/kafka-local.sh" start --dir "$kdir" | tail -n 1)
[ -n "$b" ] || die "kafka-local.sh printed no bootstrap servers"

say "starting $workers workers and the gateway"
for ((i = 1; i <= workers; i++)); do
  "$bin/order-worker" -b "$b" --id "bench-w$i" >/dev/null 2>"$out/worker-$i.log" &
  pids+=($!)
done
"$bin/order-gateway" -b "$b" -l 127.0.0.1:0 --max-waiting 100000 \
  2>"$out/gateway.log" >/dev/null &
pids+=($!)
wait_for_line "$out/gateway.log" 60 'msg=ready port=[0-9]+' || die "the gateway did not get ready (see $out/gateway.log)"
port=$(grep -Eo 'msg=ready port=[0-9]+' "$out/gateway.log" | head -n 1 | grep -Eo '[0-9]+$')
url="http://127.0.0.1:$port/v1/orders"
body='{"customerId":"c-bench","currency":"EUR","items":[{"sku":"BURGER-CLASSIC","quantity":2,"unitPrice":"899"}]}'
printf '%s' "$body" >"$out/order.json"
for ((i = 1; i <= workers; i++)); do
  wait_for_line "$out/worker-$i.log" 60 'partitions assigned' || die "worker $i got no partitions"
done

say "warming up (500 orders through the gateway)"
hey -n 500 -c 10 -m POST -T application/json -D "$out/order.json" "$url" >/dev/null

say "raw Kafka round trip: $count orders at $rate/s (order-producer load --wait)"
"$bin/order-producer" -b "$b" load --count "$count" --rate "$rate" --wait --deadline 30000 \
  >"$out/raw.txt" 2>"$out/raw.log" || die "order-producer load --wait failed (see $out/raw.log)"

say "gateway: $rate requests/s for ${duration}s (hey)"
# hey's -q is per worker: 10 workers at rate/10 each.
hey -z "${duration}s" -c 10 -q "$(python3 -c "print(max(1, $rate / 10))")" -m POST \
  -T application/json -D "$out/order.json" -o csv "$url" >"$out/gateway.csv"

say "gateway maximum rate: $connections connections for ${duration}s (wrk)"
cat >"$out/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
local codes = {}
response = function(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
done = function(summary, latency, requests)
  io.write(string.format("requests %d\nseconds %.3f\np50_us %d\np99_us %d\np999_us %d\nerrors %d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF
wrk -t 2 -c "$connections" -d "${duration}s" -s "$out/post.lua" "$url" >"$out/wrk.txt"

say "raw maximum rate: $((count * 2)) orders as fast as they go (order-producer load --wait)"
"$bin/order-producer" -b "$b" load --count $((count * 2)) --wait --deadline 60000 \
  >"$out/rawmax.txt" 2>"$out/rawmax.log" || die "order-producer load --wait failed (see $out/rawmax.log)"

# ---- the worker engine ---------------------------------------------------
# Each run gets fresh topics (kafka-local.sh topics) and one worker of its own;
# the orders are placed as fast as they go once it is assigned, and
# throughput is counted from the first order placed to the last outcome.
say "stopping the gateway and its workers"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

# engine_run NAME COUNT [worker flags...]: prints nothing; leaves NAME.json
# (order-producer outcomes --json) and NAME-worker.log in $out.
engine_run() {
  local name=$1 n=$2 t
  shift 2
  for t in ORDERS COMPLETED REPLIES RETRY DLQ; do
    export "ORDERFLEET_TOPICS_$t=bench-$name.$(tr 'A-Z' 'a-z' <<<"$t")"
  done
  "$root/deploy/kafka-local.sh" topics --dir "$kdir" >/dev/null
  "$bin/order-worker" -b "$b" -g "bench-$name" --id "bench-$name" "$@" \
    >/dev/null 2>"$out/$name-worker.log" &
  local w=$!
  pids+=("$w")
  wait_for_line "$out/$name-worker.log" 60 "partitions assigned\" topic=bench-$name\\.orders " ||
    die "the $name worker got no partitions (see $out/$name-worker.log)"
  "$bin/order-producer" -b "$b" load --count "$n" --ids -q >"$out/$name-ids.txt" \
    2>"$out/$name-load.log" || die "placing the $name orders failed (see $out/$name-load.log)"
  "$bin/order-producer" -b "$b" outcomes --expect "$out/$name-ids.txt" --timeout 600 --json \
    >"$out/$name.json" 2>>"$out/$name-load.log" || die "$name: orders without an outcome"
  kill -TERM "$w"
  wait "$w" || die "the $name worker did not stop cleanly (see $out/$name-worker.log)"
  pids=() # it was the only one running
}

# (a) long-running tasks: 50 ms per order, one worker, about 8 s of work at
# the ideal rate (concurrency / 50 ms) for each concurrency.
for c in ${CONCURRENCIES:-1 16 64 256}; do
  n=$((c * 20 * 8))
  say "long-running tasks: concurrency $c, 50 ms each, $n orders"
  engine_run "long-c$c" "$n" --concurrency "$c" --latency-ms 50
done

# (b) the zero-latency pipeline, both guarantees, next to Kafka's own
# ProducerPerformance (the broker's ceiling for producing alone) at the size
# of an order record and the same settings.
pipeline_n=${PIPELINE_ORDERS:-30000}
for g in at_least_once exactly_once; do
  say "zero-latency pipeline, $g: $pipeline_n orders"
  engine_run "pipeline-$g" "$pipeline_n" --guarantee "$g"
done
say "Kafka's ProducerPerformance: $pipeline_n records of 140 bytes, acks=all, idempotent"
cache=$("$root/deploy/kafka-local.sh" fetch)
java -cp "$cache/*" org.apache.kafka.tools.ProducerPerformance --topic "bench-pipeline-at_least_once.orders" \
  --num-records "$pipeline_n" --record-size 140 --throughput -1 \
  --producer-props bootstrap.servers="$b" acks=all enable.idempotence=true linger.ms=5 \
  >"$out/producer-performance.txt" 2>"$out/producer-performance.log" ||
  die "ProducerPerformance failed (see $out/producer-performance.log)"

python3 "$root/tests/bench/report.py" "$out" "$rate" "$duration" "$connections" "$workers" \
  | tee "$out/report.md"

#!/usr/bin/env bash
# The demo: the whole asynchronous pipeline on the embedded broker.
#
#   order-devbroker  ->  2 x order-worker  <-  order-producer load (1,000 orders)
#
# then `order-producer outcomes` waits until every order has its outcome and
# prints the summary. Everything is stopped cleanly at the end (and on
# Ctrl-C). Logs: build/demo/*.log. Usage: deploy/demo.sh [BIN_DIR]
# Environment: DEMO_ORDERS (1000), DEMO_WORKERS (2), DEMO_TIMEOUT (60 s).
set -euo pipefail

bin=${1:-build/bin}
orders=${DEMO_ORDERS:-1000}
workers=${DEMO_WORKERS:-2}
timeout=${DEMO_TIMEOUT:-60}
out=$(dirname "$bin")/demo
mkdir -p "$out"
rm -f "$out"/*.log "$out"/ids.txt "$out"/broker.txt

# The demo shows every outcome: 1 ms of work per order, and one payment in five
# failing transiently, so a few orders exhaust their 3 attempts and FAIL.
export ORDERFLEET_HANDLER_LATENCY_MS=1
export ORDERFLEET_HANDLER_FAILURE_RATE=0.2
export ORDERFLEET_RETRY_BASE_MS=20
export ORDERFLEET_RETRY_CAP_MS=200

pids=()
broker_pid=
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$broker_pid" ] && kill -TERM "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
[ -t 2 ] || say() { printf '==> %s\n' "$*" >&2; }

say "starting order-devbroker (embedded Kafka, 3 brokers on loopback)"
"$bin/order-devbroker" >"$out/broker.txt" 2>"$out/broker.log" &
broker_pid=$!
for _ in $(seq 100); do            # the first stdout line is the bootstrap list
  [ -s "$out/broker.txt" ] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$out/broker.log" >&2; exit 1; }
  sleep 0.1
done
brokers=$(head -n 1 "$out/broker.txt")
[ -n "$brokers" ] || { echo "demo: order-devbroker printed no bootstrap servers" >&2; exit 1; }
say "brokers: $brokers"

# Workers join one at a time, each once the group has settled with the ones
# before it, so every join is a rebalance of a working group, as in a fleet
# that scales out.
say "starting $workers workers (group order-workers)"
for i in $(seq "$workers"); do
  log="$out/worker-$i.log"
  "$bin/order-worker" -b "$brokers" --id "demo-worker-$i" 2>"$log" &
  pids+=($!)
  for _ in $(seq 300); do
    grep -q 'msg="partitions assigned"' "$log" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
done

say "placing $orders orders (order-producer load)"
"$bin/order-producer" load -b "$brokers" --count "$orders" --ids >"$out/ids.txt"

say "waiting for every outcome (order-producer outcomes)"
rc=0
"$bin/order-producer" outcomes -b "$brokers" --expect "$out/ids.txt" --timeout "$timeout" || rc=$?

say "stopping the fleet"
for pid in "${pids[@]}"; do
  wrc=0; kill -TERM "$pid"; wait "$pid" || wrc=$?
  [ "$wrc" -eq 0 ] || { echo "demo: a worker exited with status $wrc (see $out/)" >&2; rc=1; }
done
pids=()
grep -h 'msg=stopped' "$out"/worker-*.log | sed 's/^.*prog=order-worker msg=stopped /  worker: /' >&2 || true
[ "$rc" -eq 0 ] && say "every order accounted for; logs in $out/" || say "demo FAILED (status $rc); logs in $out/"
exit "$rc"

#!/usr/bin/env bash
# The demo: the whole pipeline on the embedded broker, both models.
#
#   order-devbroker  ->  2 x order-worker  <-  order-producer load (1,000 orders)
#
# The buzzer: `order-producer outcomes` waits until every order has its
# outcome and prints the summary. The counter: order-gateway answers
# POST /v1/orders with the outcome (201), or at once with a Location to ask
# later (202, Prefer: respond-async), and `order-producer place --wait` does
# the same from the command line. Everything is stopped cleanly at the end
# (and on Ctrl-C). Logs: build/demo/*.log. Usage: deploy/demo.sh [BIN_DIR]
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
"$bin/order-producer" load -q -b "$brokers" --count "$orders" --ids >"$out/ids.txt"

say "waiting for every outcome (order-producer outcomes)"
rc=0
"$bin/order-producer" outcomes -b "$brokers" --expect "$out/ids.txt" --timeout "$timeout" || rc=$?

# The counter: the same fleet answers synchronously.
say "starting order-gateway (the synchronous facade)"
"$bin/order-gateway" -b "$brokers" -l 127.0.0.1:0 2>"$out/gateway.log" &
pids+=($!)
port=
for _ in $(seq 300); do
  port=$(grep -Eo 'msg=ready port=[0-9]+' "$out/gateway.log" 2>/dev/null | grep -Eo '[0-9]+$' || true)
  [ -n "$port" ] && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$out/gateway.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "demo: the gateway did not get ready" >&2; exit 1; }
api="http://127.0.0.1:$port/v1/orders"
order='{"customerId":"c-42","currency":"EUR","items":[{"sku":"BURGER-CLASSIC","quantity":2,"unitPrice":"899"}]}'
# The status line, Location, Preference-Applied and the body of a response.
show() { tr -d '\r' | awk '/^HTTP\/|^Location:|^Preference-Applied:|^\{/ { print "  " $0 }' >&2; }

say "the counter: POST $api (waits for the outcome)"
curl -sS -i -H 'Content-Type: application/json' -d "$order" "$api" | show || rc=1

say "the buzzer over HTTP: Prefer: respond-async, then GET the Location"
location=$(curl -sS -i -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
             -d "$order" "$api" | tee "$out/async.txt" | sed -n 's/^Location: *//p' | tr -d '\r')
show <"$out/async.txt"
got=
for _ in $(seq 100); do
  got=$(curl -sS -i "http://127.0.0.1:$port$location")
  printf '%s' "$got" | grep -q '^HTTP/1.1 200' && break
  sleep 0.1
done
printf '%s\n' "$got" | show
printf '%s' "$got" | grep -q '^HTTP/1.1 200' || { echo "demo: $location never reached 200" >&2; rc=1; }

say "the counter from the command line: order-producer place --wait"
"$bin/order-producer" place -b "$brokers" --wait --customer c-7 --item FRIES-LARGE:1 2>>"$out/place.log" \
  | sed 's/^/  /' >&2 || rc=1

say "stopping the fleet"
for pid in "${pids[@]}"; do
  wrc=0; kill -TERM "$pid"; wait "$pid" || wrc=$?
  [ "$wrc" -eq 0 ] || { echo "demo: a program exited with status $wrc (see $out/)" >&2; rc=1; }
done
pids=()
grep -h 'msg=stopped' "$out"/worker-*.log | sed 's/^.*prog=order-worker msg=stopped /  worker: /' >&2 || true
[ "$rc" -eq 0 ] && say "every order accounted for; logs in $out/" || say "demo FAILED (status $rc); logs in $out/"
exit "$rc"

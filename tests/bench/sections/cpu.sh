# tests/bench/sections/cpu.sh: what an order costs in CPU, sourced by
# bench.sh (globals and helpers: lib.sh).
#
# OUT/cpu.csv: stage,instructions_per_order
#   Instructions counted by callgrind (valgrind --tool=callgrind) in
#   BIN/bench_cpu_cost (tests/bench/cpu_cost.c, built with the tests), which
#   runs one stage over realistic orders (UUIDv7 id, three line items, two
#   attributes) N times. Each stage runs for N = 0 and N = 10,000 (smoke
#   1,000); (instructions(N) - instructions(0)) / N leaves the start-up out.
#   Stages: encode (codec_placed_encode), decode (codec_placed_decode and
#   codec_placed_free), handle (fulfillment_price: the built-in handler's
#   validation and pricing, which consumer/fulfillment.h offers as one call,
#   so they are one stage). Instruction counts do not depend on the machine's
#   load, unlike the seconds below. The callgrind profiles stay in
#   OUT/cpu-STAGE-N.callgrind for callgrind_annotate.
#
# OUT/cpu-seconds.csv: program,orders,cpu_seconds,cpu_seconds_per_100k
#   User + system CPU time of each program for a known number of orders, on
#   fresh topics:
#   order-producer  load of 100,000 orders (smoke 5,000) as fast as they go:
#                   the whole run, from its child rusage
#   order-worker    the worker that processed those orders (default
#                   settings, zero latency): from start to the last outcome,
#                   read from /proc before it is stopped
#   order-gateway   20,000 POST /v1/orders (smoke 1,000) through hey, 50
#                   connections, answered by the same worker: from start to
#                   the last answer, read before it is stopped
#   Start-up and idle time are included, so small runs overstate the cost.
#
# Logs: OUT/cpu-*.log, OUT/cpu-hey.txt.

cpu_file=$out/cpu.csv
cpu_secs_file=$out/cpu-seconds.csv
cpu_n=$(sized 10000 1000)
cpu_orders=$(sized 100000 5000)
cpu_posts=$(sized 20000 1000)

[ -x "$bin/bench_cpu_cost" ] ||
  die "$bin/bench_cpu_cost is missing: it is built with the tests (cmake target bench_cpu_cost)"

# cpu_instructions STAGE N: the instructions callgrind counted for one run.
cpu_instructions() {
  local prof="$out/cpu-$1-$2.callgrind"
  valgrind --tool=callgrind --callgrind-out-file="$prof" "$bin/bench_cpu_cost" "$1" "$2" \
    >>"$out/cpu-callgrind.log" 2>&1 || die "bench_cpu_cost $1 $2 failed (see $out/cpu-callgrind.log)"
  awk '/^totals:/ {print $2; found = 1} END {exit !found}' "$prof" ||
    die "no totals line in $prof"
}

# cpu_seconds_row PROGRAM ORDERS SECONDS
cpu_seconds_row() {
  csv_row "$cpu_secs_file" "$1" "$2" "$3" "$(calc "$3 * 100000 / $2")"
  say "$1: $3 CPU seconds for $2 orders"
}

say "cpu: instructions per order (callgrind, $cpu_n orders per stage)"
csv_init "$cpu_file" stage instructions_per_order
rm -f "$out"/cpu-callgrind.log "$out"/cpu-*.callgrind
for cpu_stage in encode decode handle; do
  cpu_i0=$(cpu_instructions "$cpu_stage" 0)
  cpu_i1=$(cpu_instructions "$cpu_stage" "$cpu_n")
  csv_row "$cpu_file" "$cpu_stage" "$(calc "($cpu_i1 - $cpu_i0) / $cpu_n")"
  say "$cpu_stage: $(tail -n 1 "$cpu_file" | cut -d, -f2) instructions per order"
done

say "cpu: CPU seconds of order-producer and order-worker for $cpu_orders orders"
csv_init "$cpu_secs_file" program orders cpu_seconds cpu_seconds_per_100k
fresh_topics cpu
rm -f "$out"/cpu-worker-*.log
start_worker cpu
cpu_w=$worker_pid
await_assigned cpu
# The producer's own CPU time: python3 runs it and reads its child rusage.
python3 -c '
import resource, subprocess, sys
with open(sys.argv[2], "wb") as ids, open(sys.argv[3], "wb") as log:
    rc = subprocess.call(sys.argv[4:], stdout=ids, stderr=log)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write("%.3f\n" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$out/cpu-producer.cpu" "$out/cpu-ids.txt" "$out/cpu-load.log" \
  "$bin/order-producer" -b "$b" load --count "$cpu_orders" --ids -q ||
  die "placing the cpu orders failed (see $out/cpu-load.log)"
"$bin/order-producer" -b "$b" outcomes --expect "$out/cpu-ids.txt" --timeout 600 --json \
  >"$out/cpu.json" 2>>"$out/cpu-load.log" || die "cpu: orders without an outcome"
cpu_seconds_row order-producer "$cpu_orders" "$(cat "$out/cpu-producer.cpu")"
cpu_seconds_row order-worker "$cpu_orders" "$(cpu_seconds "$cpu_w")"

say "cpu: CPU seconds of order-gateway for $cpu_posts POSTs"
"$bin/order-gateway" -b "$b" -l 127.0.0.1:0 >/dev/null 2>"$out/cpu-gateway.log" &
cpu_gw=$!
pids+=("$cpu_gw")
wait_for_line "$out/cpu-gateway.log" 60 'msg=ready port=[0-9]+' ||
  die "the gateway did not get ready (see $out/cpu-gateway.log)"
cpu_port=$(grep -Eo 'msg=ready port=[0-9]+' "$out/cpu-gateway.log" | head -n 1 | grep -Eo '[0-9]+$')
printf '%s' '{"customerId":"c-42","currency":"EUR","items":[{"sku":"BURGER-CLASSIC","quantity":2,"unitPrice":"899"},{"sku":"FRIES-LARGE","quantity":1,"unitPrice":"449"},{"sku":"COLA-SMALL","quantity":2,"unitPrice":"249"}],"attributes":{"channel":"app","store":"s-7"}}' \
  >"$out/cpu-order.json"
hey -n "$cpu_posts" -c 50 -m POST -T application/json -D "$out/cpu-order.json" \
  "http://127.0.0.1:$cpu_port/v1/orders" >"$out/cpu-hey.txt" 2>&1 ||
  die "hey failed (see $out/cpu-hey.txt)"
grep -Eq "\[201\][[:space:]]+$cpu_posts responses" "$out/cpu-hey.txt" ||
  say "warning: not every POST was answered 201 (see $out/cpu-hey.txt)"
cpu_seconds_row order-gateway "$cpu_posts" "$(cpu_seconds "$cpu_gw")"
stop_pids "$cpu_gw" "$cpu_w" || die "the cpu gateway or worker did not stop cleanly (see $out/cpu-*.log)"

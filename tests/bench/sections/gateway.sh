# Section gateway: the synchronous facade against the raw Kafka round trip.
# Two workers and one gateway on topics of their own.
#
#   max     wrk, closed loop, 128 connections: the highest rate the gateway
#           sustains; beside it order-producer load --wait as fast as it goes
#           (open loop: its latencies measure queueing, not the round trip)
#   rates   at 25%, 50% and 75% of the gateway's maximum: the same orders
#           through POST /v1/orders (hey, every latency kept) and through
#           order-producer load --wait (produce -> worker -> reply -> consume,
#           no HTTP: the floor), with their percentiles side by side
#
# gateway.csv: path,rate,requests,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,errors
# gateway-max.csv: path,requests_per_s,p50_ms,p99_ms,errors
# latency-gateway-<rate>.txt, latency-raw-<rate>.txt: every latency of that run, in ms
duration=$(sized 10 3)
csv_init "$out/gateway.csv" path rate requests p50_ms p90_ms p99_ms p999_ms max_ms errors
csv_init "$out/gateway-max.csv" path requests_per_s p50_ms p99_ms errors

fresh_topics gateway
rm -f "$out"/gateway-worker-*.log
gw_workers=()
for i in 1 2; do start_worker gateway; gw_workers+=("$worker_pid"); done
"$bin/order-gateway" -b "$b" -l 127.0.0.1:0 --max-waiting 100000 \
  2>"$out/gateway.log" >/dev/null &
gw=$!
pids+=("$gw")
wait_for_line "$out/gateway.log" 60 'msg=ready port=[0-9]+' ||
  die "the gateway did not get ready (see $out/gateway.log)"
port=$(grep -Eo 'msg=ready port=[0-9]+' "$out/gateway.log" | head -n 1 | grep -Eo '[0-9]+$')
url="http://127.0.0.1:$port/v1/orders"
await_assigned gateway
body='{"customerId":"c-bench","currency":"EUR","items":[{"sku":"BURGER-CLASSIC","quantity":2,"unitPrice":"899"}]}'
printf '%s' "$body" >"$out/order.json"
hey -n 500 -c 10 -m POST -T application/json -D "$out/order.json" "$url" >/dev/null

# raw_row NAME RATE: the "wait finished" and "reply latency" lines of
# OUT/NAME.log as a gateway.csv row for path raw.
raw_row() {
  python3 - "$out/$1.log" "$2" <<'PY' >>"$out/gateway.csv"
import re, sys
def fields(msg):
    found = None
    for line in open(sys.argv[1]):
        f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        if f.get("msg", "").strip('"') == msg:
            found = {k: v.strip('"') for k, v in f.items()}
    if not found:
        sys.exit("bench: no %r line in %s" % (msg, sys.argv[1]))
    return found
done, lat = fields("wait finished"), fields("reply latency")
bad = sum(int(done[k]) for k in ("timed_out", "not_sent", "bad_reply"))
print("raw,%s,%s,%s,%s,%s,%s,%s,%d" % (sys.argv[2], lat["replies"], lat["p50_ms"],
      lat["p90_ms"], lat["p99_ms"], lat["p999_ms"], lat["max_ms"], bad))
PY
}

say "gateway maximum rate: 128 connections for ${duration}s (wrk)"
cat >"$out/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("requests %d\nseconds %.3f\np50_us %d\np99_us %d\nerrors %d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
LUA
wrk -t 2 -c 128 -d "${duration}s" -s "$out/post.lua" "$url" >"$out/wrk.txt"
kv() { awk -v k="$1" '$1 == k {print $2}' "$out/wrk.txt"; }
gmax=$(calc "$(kv requests) / $(kv seconds)")
csv_row "$out/gateway-max.csv" gateway "$gmax" "$(calc "$(kv p50_us) / 1000")" \
  "$(calc "$(kv p99_us) / 1000")" "$(kv errors)"
say "gateway maximum: $gmax requests/s"

n=$(python3 -c "print(int($gmax * $duration))")
"$bin/order-producer" -b "$b" load --count "$n" --wait --deadline 60000 \
  >/dev/null 2>"$out/gateway-rawmax.log" || die "order-producer load --wait failed (see $out/gateway-rawmax.log)"
rmax=$(python3 - "$out/gateway-rawmax.log" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    if 'msg="wait finished"' in line:
        f = dict(re.findall(r'(\w+)=(\S+)', line))
        done = sum(int(f[k]) for k in ("fulfilled", "rejected", "failed"))
        print(round(done * 1000 / int(f["elapsed_ms"]), 1))
PY
)
lat=$(grep 'msg="reply latency"' "$out/gateway-rawmax.log" | tail -n 1)
csv_row "$out/gateway-max.csv" raw "$rmax" "$(grep -o 'p50_ms=[0-9.]*' <<<"$lat" | cut -d= -f2)" \
  "$(grep -o 'p99_ms=[0-9.]*' <<<"$lat" | cut -d= -f2)" 0
say "raw maximum: $rmax orders/s"

for share in $(sized "25 50 75" "50"); do
  rate=$(python3 -c "print(max(10, int($gmax * $share / 100)))")
  say "at $rate/s ($share% of the gateway's maximum), ${duration}s each: raw, then gateway"
  "$bin/order-producer" -b "$b" load --count $((rate * duration)) --rate "$rate" --wait \
    --deadline 30000 --latency-file "$out/latency-raw-$rate.txt" \
    >/dev/null 2>"$out/gateway-raw-$rate.log" ||
    die "order-producer load --wait failed (see $out/gateway-raw-$rate.log)"
  raw_row "gateway-raw-$rate" "$rate"
  # hey's -q is per client: enough clients that none needs more than 50/s
  clients=$(python3 -c "print(max(10, -(-$rate // 50)))")
  hey -z "${duration}s" -c "$clients" -q "$(calc "$rate / $clients")" -m POST \
    -T application/json -D "$out/order.json" -o csv "$url" >"$out/gateway-hey-$rate.csv"
  python3 - "$out/gateway-hey-$rate.csv" "$rate" "$out/latency-gateway-$rate.txt" <<'PY' >>"$out/gateway.csv"
import csv, sys
times, errors = [], 0
for row in csv.DictReader(open(sys.argv[1])):
    if row.get("status-code") != "201":
        errors += 1
    else:
        times.append(float(row["response-time"]) * 1000.0)
times.sort()
with open(sys.argv[3], "w") as f:
    f.writelines("%.3f\n" % t for t in times)
def q(p):
    """nearest-rank percentile"""
    if not times:
        return 0.0
    k = max(1, int(-(-p * len(times) // 1)))
    return times[min(k, len(times)) - 1]
print("gateway,%s,%d,%.2f,%.2f,%.2f,%.2f,%.2f,%d" % (sys.argv[2], len(times), q(.5), q(.9),
      q(.99), q(.999), times[-1] if times else 0.0, errors))
PY
done

stop_pids "$gw" "${gw_workers[@]}" || die "the gateway or a worker did not stop cleanly"

# tests/bench/sections/memory.sh: the resident memory of the long-running
# programs, sourced by bench.sh (globals and helpers: lib.sh).
#
# OUT/memory.csv: program,state,rss_kib,peak_rss_kib
#   rss_kib is VmRSS, peak_rss_kib VmHWM (the high-water mark since start),
#   both read from /proc while the program runs, at the end of the state:
#
#   order-worker  idle           fresh topics, assigned, 5 s with nothing to do
#   order-worker  load           then the zero-latency pipeline: 100,000 orders
#                                (smoke 3,000) placed as fast as they go, every
#                                outcome awaited; default concurrency 64
#   order-gateway idle           ready, no request yet (two workers running)
#   order-gateway load           hey at 500 requests/s for 20 s (smoke 3 s),
#                                POST /v1/orders with a valid order, 200
#                                connections
#   order-gateway waiting_N      the workers stopped, so that no reply comes:
#                                10,000 POSTs (smoke 500) open at once, each
#                                with Prefer: wait=60, until the gateway's
#                                orderfleet_gateway_waiting_requests says they
#                                all wait; then the gateway is stopped and
#                                answers each one 202
#
# Logs: OUT/memory-*.log, OUT/memory-gw-*.log, OUT/memory-hey.txt,
# OUT/memory-hold.txt (the holding client's account of its requests).

mem_file=$out/memory.csv
mem_orders=$(sized 100000 3000)
mem_load_s=$(sized 20 3)
mem_waiting=$(sized 10000 500)
csv_init "$mem_file" program state rss_kib peak_rss_kib

# mem_row PROGRAM STATE PID: one row, read from the running process.
mem_row() {
  local rss peak
  rss=$(rss_kib "$3") && peak=$(peak_rss_kib "$3") || die "$1 ($2): process $3 is gone"
  csv_row "$mem_file" "$1" "$2" "$rss" "$peak"
  say "$1 $2: rss $rss KiB, peak $peak KiB"
}

# ---- order-worker ----------------------------------------------------------
say "memory: order-worker idle, then $mem_orders orders"
fresh_topics memory
rm -f "$out"/memory-worker-*.log
start_worker memory
mem_w=$worker_pid
await_assigned memory
sleep 5 # the idle state itself: five seconds assigned with nothing to do
mem_row order-worker idle "$mem_w"
place_and_await memory "$mem_orders"
mem_row order-worker load "$mem_w"
stop_pids "$mem_w" || die "the memory worker did not stop cleanly (see $out/memory-worker-0.log)"

# ---- order-gateway ---------------------------------------------------------
say "memory: order-gateway idle, at 500 requests/s for ${mem_load_s}s, $mem_waiting waiting"
fresh_topics memory-gw
rm -f "$out"/memory-gw-worker-*.log
mem_ws=()
for _ in 1 2; do
  start_worker memory-gw
  mem_ws+=("$worker_pid")
done
await_assigned memory-gw

ORDERFLEET_METRICS_LISTEN=127.0.0.1:0 "$bin/order-gateway" -b "$b" -l 127.0.0.1:0 \
  >/dev/null 2>"$out/memory-gw-gateway.log" &
mem_gw=$!
pids+=("$mem_gw")
wait_for_line "$out/memory-gw-gateway.log" 60 'msg=ready port=[0-9]+' ||
  die "the gateway did not get ready (see $out/memory-gw-gateway.log)"
wait_for_line "$out/memory-gw-gateway.log" 10 'msg="ops endpoint listening".* port=[0-9]+' ||
  die "the gateway logged no ops endpoint (see $out/memory-gw-gateway.log)"
mem_port=$(grep -Eo 'msg=ready port=[0-9]+' "$out/memory-gw-gateway.log" | head -n 1 | grep -Eo '[0-9]+$')
mem_mport=$(grep -E 'msg="ops endpoint listening"' "$out/memory-gw-gateway.log" | head -n 1 |
  grep -Eo ' port=[0-9]+' | grep -Eo '[0-9]+$')
mem_row order-gateway idle "$mem_gw"

# A valid order like the load generator's: three products, two attributes.
printf '%s' '{"customerId":"c-42","currency":"EUR","items":[{"sku":"BURGER-CLASSIC","quantity":2,"unitPrice":"899"},{"sku":"FRIES-LARGE","quantity":1,"unitPrice":"449"},{"sku":"COLA-SMALL","quantity":2,"unitPrice":"249"}],"attributes":{"channel":"app","store":"s-7"}}' \
  >"$out/memory-order.json"
# hey's -q is per client, and each client waits for its answer before the
# next request: 200 clients at 2.5 requests/s each keep 500/s up to a
# latency of 400 ms.
hey -z "${mem_load_s}s" -c 200 -q 2.5 -m POST -T application/json -D "$out/memory-order.json" \
  "http://127.0.0.1:$mem_port/v1/orders" >"$out/memory-hey.txt" 2>&1 ||
  die "hey failed (see $out/memory-hey.txt)"
say "gateway load: $(awk '/Requests\/sec:/ {print $2}' "$out/memory-hey.txt") requests/s answered"
mem_row order-gateway load "$mem_gw"

# No reply may come while the requests pile up.
stop_pids "${mem_ws[@]}" || die "a memory-gw worker did not stop cleanly (see $out/memory-gw-worker-*.log)"

# The holding client: opens N connections (at most 200 connecting at once),
# sends one POST on each and reads until the gateway closes it. Prints
# "waiting V" once the gateway's gauge says at least N requests wait (or
# "failed: ..." when it does not within its deadline), then, when every
# connection has ended, "answered A of N, status S: K, ..." and exits 0 if
# all N were answered 202.
cat >"$out/memory-hold.py" <<'EOF'
import asyncio, resource, sys, time, urllib.request
port, mport, n, body_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 256 if hard == resource.RLIM_INFINITY else min(hard, n + 256)
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
body = open(body_file, "rb").read()
req = (b"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
       b"Prefer: wait=60\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
statuses = {}

async def one(sem):
    try:
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(req)
            await w.drain()
        data = await r.read()
        w.close()
        line = data.split(b"\r\n", 1)[0].split()
        key = line[1].decode() if len(line) > 1 else "none"
    except OSError as e:
        key = "error " + type(e).__name__
    statuses[key] = statuses.get(key, 0) + 1

def waiting():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as f:
        for line in f.read().decode().splitlines():
            if line.startswith("orderfleet_gateway_waiting_requests "):
                return float(line.split()[1])
    return -1.0

async def watch(deadline):
    loop = asyncio.get_running_loop()
    while time.monotonic() < deadline:
        v = await loop.run_in_executor(None, waiting)
        if v >= n:
            print("waiting %d" % v, flush=True)
            return
        await asyncio.sleep(0.2)  # polling the gauge, bounded by the deadline
    print("failed: fewer than %d requests waiting after 45 s (%s)" % (n, statuses), flush=True)

async def main():
    sem = asyncio.Semaphore(200)
    tasks = [asyncio.create_task(one(sem)) for _ in range(n)]
    await watch(time.monotonic() + 45)
    await asyncio.wait(tasks, timeout=120)
    done = sum(statuses.values())
    print("answered %d of %d, %s" % (done, n, ", ".join(
        "status %s: %d" % kv for kv in sorted(statuses.items()))), flush=True)
    return 0 if statuses.get("202", 0) == n else 1

sys.exit(asyncio.run(main()))
EOF
python3 "$out/memory-hold.py" "$mem_port" "$mem_mport" "$mem_waiting" "$out/memory-order.json" \
  >"$out/memory-hold.txt" 2>&1 &
mem_hold=$!
pids+=("$mem_hold")
wait_for_line "$out/memory-hold.txt" 60 '^(waiting|failed)' ||
  die "the holding client said nothing in 60 s (see $out/memory-hold.txt)"
grep -q '^waiting' "$out/memory-hold.txt" ||
  die "the gateway did not hold $mem_waiting requests: $(head -n 1 "$out/memory-hold.txt")"
mem_row order-gateway "waiting_$mem_waiting" "$mem_gw"
stop_pids "$mem_gw" || die "the gateway did not stop cleanly (see $out/memory-gw-gateway.log)"
wait "$mem_hold" ||
  say "warning: not every waiting request was answered 202: $(tail -n 1 "$out/memory-hold.txt")"
say "held requests: $(tail -n 1 "$out/memory-hold.txt")"

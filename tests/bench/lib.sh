# tests/bench/lib.sh: what the sections of the benchmark share. Sourced by
# bench.sh, never run. bench.sh sets, before any section runs:
#
#   bin    the programs' directory (build/bin)      root   the source tree
#   out    the output directory (build/bench)       kdir   the local Kafka's directory
#   b      the local Kafka's bootstrap servers      smoke  1 for make bench-smoke, else 0
#   pids   an array of processes to stop at exit (start_* add to it)
#
# Each section writes OUT/<section>.csv (a header line, then rows; the
# columns are documented in the section's file) and leaves its logs in OUT.
# report.py turns the CSVs into report.md and the plots. A section measures;
# it never decides whether a number is good.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# sized NORMAL SMOKE: NORMAL, or SMOKE under make bench-smoke.
sized() { if [ "$smoke" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# Waits (up to $2 seconds) until file $1 holds a line matching regex $3.
wait_for_line() {
  local file=$1 secs=$2 re=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    sleep 0.1 # polling a file, bounded by the deadline
  done
  return 1
}

# csv_init FILE COLUMNS...: starts FILE with its header line.
csv_init() {
  local f=$1
  shift
  (IFS=,; echo "$*") >"$f"
}

# csv_row FILE VALUES...: appends one row.
csv_row() {
  local f=$1
  shift
  (IFS=,; echo "$*") >>"$f"
}

# now_s: wall-clock seconds with milliseconds, for elapsed times.
now_s() { date +%s.%N | cut -c1-14; }

# calc EXPR: a floating-point expression, printed with up to 3 decimals.
calc() { python3 -c "print(round($1, 3))"; }

# json_field FILE KEY: one top-level field of a JSON file.
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# The process's peak resident set (VmHWM) and current one (VmRSS), in KiB,
# and its CPU time (user + system) in seconds, read from /proc while it runs.
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_seconds() {
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# fresh_topics NAME [PARTITIONS]: points ORDERFLEET_TOPICS_* at topics of
# their own (bench-NAME.orders, ...) and creates them, the orders topic with
# PARTITIONS partitions (default 12). Exported: every program started after
# this uses them.
fresh_topics() {
  local name=$1 t
  export ORDERFLEET_TOPICS_ORDERS_PARTITIONS=${2:-12}
  for t in ORDERS COMPLETED REPLIES RETRY DLQ; do
    export "ORDERFLEET_TOPICS_$t=bench-$name.$(tr 'A-Z' 'a-z' <<<"$t")"
  done
  "$root/deploy/kafka-local.sh" topics --dir "$kdir" >/dev/null ||
    die "creating the topics of $name failed"
}

# start_worker NAME [worker flags...]: starts one order-worker in group
# bench-NAME with log OUT/NAME-worker-K.log; sets worker_pid. Does not wait.
start_worker() {
  local name=$1 k
  shift
  k=$(compgen -G "$out/$name-worker-*.log" | wc -l || true)
  : >"$out/$name-worker-$k.log" # before await_assigned can look for it
  "$bin/order-worker" -b "$b" -g "bench-$name" --id "bench-$name-$k" "$@" \
    >/dev/null 2>"$out/$name-worker-$k.log" &
  worker_pid=$!
  pids+=("$worker_pid")
}

# await_assigned NAME: until every worker log of NAME shows an assignment of
# its orders topic.
await_assigned() {
  local f
  for f in "$out"/"$1"-worker-*.log; do
    wait_for_line "$f" 60 "partitions assigned\" topic=bench-$1\\.orders " ||
      die "a worker of $1 got no partitions (see $f)"
  done
}

# stop_pids PID...: SIGTERM, then wait; fails when one does not exit 0.
stop_pids() {
  local p rc=0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" || rc=1; done
  return $rc
}

# place_and_await NAME COUNT [load flags...]: places COUNT synthetic orders
# on NAME's topics as fast as they go and waits for every outcome; leaves
# OUT/NAME.json (order-producer outcomes --json: ordersPlaced, lost,
# throughputPerSecond from the first order placed to the last outcome).
# The CPU seconds of the two are left in OUT/NAME.cpu-load and
# OUT/NAME.cpu-outcomes.
place_and_await() {
  local name=$1 n=$2
  shift 2
  cpu_of "$out/$name.cpu-load" "$bin/order-producer" -b "$b" load --count "$n" --ids -q "$@" \
    >"$out/$name-ids.txt" 2>"$out/$name-load.log" ||
    die "placing the $name orders failed (see $out/$name-load.log)"
  cpu_of "$out/$name.cpu-outcomes" "$bin/order-producer" -b "$b" outcomes \
    --expect "$out/$name-ids.txt" --timeout 600 --json \
    >"$out/$name.json" 2>>"$out/$name-load.log" || die "$name: orders without an outcome"
}

# engine_run NAME COUNT WORKERS PARTITIONS [worker flags...]: fresh topics,
# WORKERS workers in a group of their own, COUNT orders through them; leaves
# OUT/NAME.json, and in OUT/NAME.proc one line per worker: "pid cpu_seconds
# peak_rss_kib", read just before they are stopped; in OUT/NAME.cpu-broker the
# broker's CPU seconds while the orders went through (not the topics' creation
# or the group's join).
engine_run() {
  local name=$1 n=$2 nw=$3 parts=$4 i ws=()
  shift 4
  fresh_topics "$name" "$parts"
  rm -f "$out/$name"-worker-*.log "$out/$name.proc"
  for ((i = 0; i < nw; i++)); do
    start_worker "$name" "$@"
    ws+=("$worker_pid")
  done
  await_assigned "$name"
  local bp b0
  bp=$(broker_pid)
  b0=$(cpu_seconds "$bp")
  place_and_await "$name" "$n"
  calc "$(cpu_seconds "$bp") - $b0" >"$out/$name.cpu-broker"
  for i in "${ws[@]}"; do echo "$i $(cpu_seconds "$i") $(peak_rss_kib "$i")" >>"$out/$name.proc"; done
  stop_pids "${ws[@]}" || die "a worker of $name did not stop cleanly (see $out/$name-worker-*.log)"
}

# cpu_of FILE CMD...: runs CMD and writes the CPU seconds (user + system) it
# and its children used to FILE; returns CMD's status. bash's `times` in a
# subshell counts exactly the subshell's waited-for children: no /usr/bin/time.
cpu_of() {
  local f=$1
  shift
  (
    rc=0
    "$@" || rc=$?
    times >"$f.times" # not in a pipe: that would be a subshell without children
    awk 'END { s = 0
      for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
      printf "%.3f\n", s }' "$f.times" >"$f"
    rm -f "$f.times"
    exit $rc
  )
}

# broker_pid: the local Kafka's JVM (for its CPU seconds), or nothing.
broker_pid() { pgrep -f "java.*$kdir" | head -n 1 || true; }

# kafka_tools: the directory of Kafka's jars (ProducerPerformance, ...).
kafka_tools() { "$root/deploy/kafka-local.sh" fetch; }

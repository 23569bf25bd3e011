# Section producer: order-producer load against Kafka's ProducerPerformance
# and kcat, at the same record size, acks=all and idempotence, each onto a
# topic of its own. The size is what an order record carries on average:
# its key, its protobuf value and its headers (CloudEvents, traceparent),
# which are most of it; the reference tools send values of that size with
# no key and no headers, so the bytes per record are the same. ProducerPerformance runs twice: with its defaults (5 requests in
# flight) and with one in flight as every orderfleet producer sends
# (docs/decisions.md), so the cost of that choice is visible.
#
# producer.csv: tool,records,record_bytes,seconds,records_per_s,mb_per_s
n=$(sized 200000 5000)
csv_init "$out/producer.csv" tool records record_bytes seconds records_per_s mb_per_s

fresh_topics producer
t0=$(now_s)
"$bin/order-producer" -b "$b" load --count "$n" 2>"$out/producer-load.log" ||
  die "order-producer load failed (see $out/producer-load.log)"
t1=$(now_s)
# What order-producer measured itself (first send to last acknowledgement),
# beside the wall time of the whole process (start-up and flush included).
rate=$(grep -o 'msg="load finished" sent=.*' "$out/producer-load.log" | grep -o ' rate=[0-9.]*' | cut -d= -f2)
# key + value + every header's name and value ("k=v,k=v": less the separators)
size=$(kcat -b "$b" -C -t "$ORDERFLEET_TOPICS_ORDERS" -o beginning -c 2000 -e -q \
  -f '%K %S %h\n' | awk '{h = substr($0, length($1) + length($2) + 3);
    n = split(h, parts, ","); s += $1 + $2 + length(h) - (2 * n - 1); c++}
    END {printf "%d", s / c}')
secs=$(calc "$n / $rate")
csv_row "$out/producer.csv" order-producer "$n" "$size" "$secs" "$rate" \
  "$(calc "$rate * $size / 1048576")"
say "order-producer: $rate records/s of $size bytes (wall $(calc "$t1 - $t0") s)"

# ProducerPerformance prints "N records sent, R records/sec (M MB/sec), ...".
cache=$(kafka_tools)
producer_performance() {
  local label=$1 log=$2
  shift 2
  fresh_topics "pp-$log"
  java -cp "$cache/*" org.apache.kafka.tools.ProducerPerformance \
    --topic "$ORDERFLEET_TOPICS_ORDERS" --num-records "$n" --record-size "$size" \
    --throughput -1 --producer-props bootstrap.servers="$b" acks=all enable.idempotence=true \
    linger.ms=5 "$@" >"$out/producer-$log.txt" 2>"$out/producer-$log.log" ||
    die "ProducerPerformance failed (see $out/producer-$log.log)"
  local line r
  line=$(grep -E '^[0-9]+ records sent' "$out/producer-$log.txt" | tail -n 1)
  r=$(sed -E 's/.* records sent, ([0-9.]+) records\/sec.*/\1/' <<<"$line")
  csv_row "$out/producer.csv" "$label" "$n" "$size" "$(calc "$n / $r")" "$r" \
    "$(calc "$r * $size / 1048576")"
  say "$label: $r records/s"
}
producer_performance ProducerPerformance pp
producer_performance "ProducerPerformance in-flight 1" pp1 max.in.flight.requests.per.connection=1

# kcat: the same number of values of the same size, one per line.
python3 -c "import sys; sys.stdout.write(('x' * $size + '\n') * $n)" >"$out/producer-kcat.in"
fresh_topics kcat
t0=$(now_s)
kcat -P -b "$b" -t "$ORDERFLEET_TOPICS_ORDERS" -X acks=all -X enable.idempotence=true \
  -X linger.ms=5 <"$out/producer-kcat.in" 2>"$out/producer-kcat.log" ||
  die "kcat -P failed (see $out/producer-kcat.log)"
t1=$(now_s)
rm -f "$out/producer-kcat.in"
secs=$(calc "$t1 - $t0")
csv_row "$out/producer.csv" kcat "$n" "$size" "$secs" "$(calc "$n / $secs")" \
  "$(calc "$n * $size / $secs / 1048576")"
say "kcat: $(calc "$n / $secs") records/s"

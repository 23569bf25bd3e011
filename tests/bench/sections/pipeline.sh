# Section pipeline: producer -> worker -> outcome at zero handler latency,
# one worker, 12 partitions, in both guarantees, first order placed to last
# outcome; beside Kafka's ProducerPerformance (the broker's ceiling for
# producing alone, at the orders' record size) and ConsumerPerformance
# (for consuming alone, reading the same orders back).
#
# pipeline.csv: name,guarantee,orders,seconds,orders_per_s
#
# Where the CPU goes, since the programs and the broker share this machine's
# cores: the CPU seconds of every process of the at-least-once run and of the
# ProducerPerformance run, the broker's included (its JVM, while the records
# went through).
# pipeline-cpu.csv: run,process,records,cpu_seconds
n=$(sized 100000 3000)
csv_init "$out/pipeline.csv" name guarantee orders seconds orders_per_s
csv_init "$out/pipeline-cpu.csv" run process records cpu_seconds
bpid=$(broker_pid)
[ -n "$bpid" ] || die "the local Kafka's process was not found (pgrep java.*$kdir)"
for g in at_least_once exactly_once; do
  engine_run "pipeline-$g" "$n" 1 12 --guarantee "$g"
  r=$(json_field "$out/pipeline-$g.json" throughputPerSecond)
  csv_row "$out/pipeline.csv" orderfleet "$g" "$n" "$(calc "$n / $r")" "$r"
  say "pipeline $g: $r orders/s"
  if [ "$g" = at_least_once ]; then
    csv_row "$out/pipeline-cpu.csv" "$g" "order-producer load" "$n" \
      "$(cat "$out/pipeline-$g.cpu-load")"
    csv_row "$out/pipeline-cpu.csv" "$g" order-worker "$n" \
      "$(awk '{s += $2} END {printf "%.3f", s}' "$out/pipeline-$g.proc")"
    csv_row "$out/pipeline-cpu.csv" "$g" "order-producer outcomes" "$n" \
      "$(cat "$out/pipeline-$g.cpu-outcomes")"
    csv_row "$out/pipeline-cpu.csv" "$g" broker "$n" "$(cat "$out/pipeline-$g.cpu-broker")"
  fi
done

cache=$(kafka_tools)
orders_topic=$ORDERFLEET_TOPICS_ORDERS # the last run's: it holds n orders
size=$(kcat -b "$b" -C -t "$orders_topic" -o beginning -c 2000 -e -q -f '%S\n' |
  awk '{s += $1; n++} END {printf "%d", s / n}')
fresh_topics pipeline-pp
b0=$(cpu_seconds "$bpid")
cpu_of "$out/pipeline-pp.cpu" \
  java -cp "$cache/*" org.apache.kafka.tools.ProducerPerformance --topic "$ORDERFLEET_TOPICS_ORDERS" \
  --num-records "$n" --record-size "$size" --throughput -1 \
  --producer-props bootstrap.servers="$b" acks=all enable.idempotence=true linger.ms=5 \
  >"$out/pipeline-pp.txt" 2>"$out/pipeline-pp.log" ||
  die "ProducerPerformance failed (see $out/pipeline-pp.log)"
b1=$(cpu_seconds "$bpid")
csv_row "$out/pipeline-cpu.csv" ProducerPerformance ProducerPerformance "$n" \
  "$(cat "$out/pipeline-pp.cpu")"
csv_row "$out/pipeline-cpu.csv" ProducerPerformance broker "$n" "$(calc "$b1 - $b0")"
r=$(grep -E '^[0-9]+ records sent' "$out/pipeline-pp.txt" | tail -n 1 |
  sed -E 's/.* records sent, ([0-9.]+) records\/sec.*/\1/')
csv_row "$out/pipeline.csv" ProducerPerformance - "$n" "$(calc "$n / $r")" "$r"
say "ProducerPerformance: $r records/s"

# ConsumerPerformance's CSV line: start.time, end.time, data.consumed.in.MB,
# MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, ...
java -cp "$cache/*" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$b" \
  --topic "$orders_topic" --messages "$n" --timeout 60000 \
  --group "bench-cp-$(date +%s%N)" >"$out/pipeline-cp.txt" 2>"$out/pipeline-cp.log" ||
  die "ConsumerPerformance failed (see $out/pipeline-cp.log)"
line=$(grep -E '^[0-9]{4}-' "$out/pipeline-cp.txt" | tail -n 1)
msgs=$(cut -d, -f5 <<<"$line" | tr -d ' ')
fetch_ms=$(cut -d, -f8 <<<"$line" | tr -d ' ')
# nMsg.sec counts the group join too; the rate while fetching is the ceiling
r=$(calc "$msgs * 1000 / max($fetch_ms, 1)")
csv_row "$out/pipeline.csv" ConsumerPerformance - "$msgs" "$(calc "$fetch_ms / 1000")" "$r"
say "ConsumerPerformance: $r records/s"

# Section concurrency: long-running tasks. One worker, 50 ms of handler
# latency per order, 12 partitions, for each concurrency (handler threads);
# the ideal is concurrency / 50 ms. Each run holds about 8 s of work at the
# ideal rate (1 s in smoke runs).
#
# concurrency.csv: concurrency,latency_ms,orders,seconds,orders_per_s,ideal_per_s
csv_init "$out/concurrency.csv" concurrency latency_ms orders seconds orders_per_s ideal_per_s
for c in $(sized "1 16 64 256 512" "1 16"); do
  n=$((c * 20 * $(sized 8 1)))
  engine_run "long-c$c" "$n" 1 12 --concurrency "$c" --latency-ms 50
  r=$(json_field "$out/long-c$c.json" throughputPerSecond)
  csv_row "$out/concurrency.csv" "$c" 50 "$n" "$(calc "$n / $r")" "$r" "$((c * 20))"
  say "concurrency $c: $r orders/s (ideal $((c * 20)))"
done

# Section scaling: throughput against the number of workers (1, 2, 3), for
# orders topics of 3 and 12 partitions. Each worker runs 16 handler threads
# at 20 ms per order (an ideal of 800 orders/s a worker), so the work, not
# this machine's two cores, is what the workers share out; more workers than
# partitions would idle.
#
# scaling.csv: workers,partitions,orders,seconds,orders_per_s
csv_init "$out/scaling.csv" workers partitions orders seconds orders_per_s
for parts in $(sized "3 12" "12"); do
  for w in $(sized "1 2 3" "1 2"); do
    n=$(sized $((w * 800 * 6)) 400)
    engine_run "scale-p$parts-w$w" "$n" "$w" "$parts" --concurrency 16 --latency-ms 20
    r=$(json_field "$out/scale-p$parts-w$w.json" throughputPerSecond)
    csv_row "$out/scaling.csv" "$w" "$parts" "$n" "$(calc "$n / $r")" "$r"
    say "$w workers, $parts partitions: $r orders/s"
  done
done

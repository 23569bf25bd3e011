#!/usr/bin/python3
"""Operations, end to end on the embedded broker: every program's /metrics
parsed by an independent parser (Debian's python3-prometheus-client), with
the expected series present and moving; /healthz turning 503 while a main
loop is stuck (the ORDERFLEET_TEST_STALL_FILE hook) and 200 again after;
/readyz; W3C traceparent continued from the HTTP request through the order,
the outcome and the reply; JSON log lines.

Usage: test_operations.py BIN_DIR [LOG_DIR]   (run by ctest as test_operations)

Every wait is a condition polled against a deadline; nothing sleeps for a
fixed time to let something happen. Ports are chosen by the programs (port
0) and read from their logs, so runs can go in parallel.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import http, log_text  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover - the package list installs it
    sys.exit("test_operations: python3-prometheus-client is missing "
             "(deploy/install-deps.sh deploy/packages-e2e.txt)")

RUN = fleettest.Run(sys.argv[1] if len(sys.argv) > 1 else "build/bin",
                    sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(),
                    "ops-{name}-{pid}.log")
fail, check, wait_for, start = RUN.fail, RUN.check, RUN.wait_for, RUN.start
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00-%s-00f067aa0ba902b7-01" % TRACE_ID
ORDERS = 30
SECRET = "orderfleet-test-secret-5f3a"


def scrape(port):
    """{(name, frozenset(labels)): value} of one /metrics, parsed by
    prometheus_client; also checks the content type."""
    status, headers, text = http("GET", "http://127.0.0.1:%d/metrics" % port)
    assert status == 200, "/metrics answered %d" % status
    ctype = headers.get("Content-Type", "")
    check(ctype.startswith("text/plain; version=0.0.4"), "/metrics content type " + ctype)
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def kcat_headers(bootstrap, topic):
    """key -> list of header dicts of every record on topic."""
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e",
                          "-q", "-J"], capture_output=True, timeout=60).stdout
    out = out.decode("utf-8", "replace")  # kafka_correlationId is 16 raw bytes
    records = {}
    for line in out.splitlines():
        r = json.loads(line)
        h = r.get("headers") or []
        records.setdefault(r.get("key"), []).append(dict(zip(h[0::2], h[1::2])))
    return records


def stall_and_recover(p, port, stall_file):
    """Creates the stall file: the program's main loop blocks in its next
    beat, /healthz must turn 503 (within its liveness bound); removing the
    file must bring 200 back."""
    open(stall_file, "w").close()
    try:
        st = wait_for("%s /healthz to turn 503" % p.name,
                      lambda: http("GET", "http://127.0.0.1:%d/healthz" % port)[0] == 503 and 1,
                      timeout=20)
        body = http("GET", "http://127.0.0.1:%d/healthz" % port)[2]
        check("stalled" in body, "%s /healthz body while stuck: %r" % (p.name, body))
        check(st == 1, "stalled")
    finally:
        os.unlink(stall_file)
    wait_for("%s /healthz to be 200 again" % p.name,
             lambda: http("GET", "http://127.0.0.1:%d/healthz" % port)[0] == 200, timeout=20)
    check("main loop stalled" in log_text(p), p.name + " did not log the stall")


def main():
    stall_dir = tempfile.mkdtemp()
    broker, bootstrap = RUN.start_devbroker()

    common = {"ORDERFLEET_METRICS_LISTEN": "127.0.0.1:0",
              "ORDERFLEET_METRICS_LIVENESS_MS": "1000"}
    worker_stall = os.path.join(stall_dir, "worker")
    gateway_stall = os.path.join(stall_dir, "gateway")
    # At debug level, with a secret among its Kafka properties: the secret
    # must appear in no log line (it is unused: the broker speaks PLAINTEXT).
    worker = start("worker", ["order-worker", "-b", bootstrap, "-v",
                              "-X", "ssl.key.password=" + SECRET],
                   dict(common, ORDERFLEET_TEST_STALL_FILE=worker_stall,
                        ORDERFLEET_KAFKA_SASL_PASSWORD=SECRET))
    gateway = start("gateway", ["order-gateway", "-b", bootstrap, "-l", "127.0.0.1:0",
                                "--log-format", "json"],
                    dict(common, ORDERFLEET_TEST_STALL_FILE=gateway_stall))
    wport = RUN.port_from_log(worker, "ops endpoint listening")
    gport = RUN.port_from_log(gateway, "ops endpoint listening")
    api = RUN.port_from_log(gateway, '"msg":"listening"')

    # Both get ready by themselves: the worker once its group is steady,
    # the gateway once its reply consumer is positioned.
    for name, port in (("worker", wport), ("gateway", gport)):
        wait_for(name + " /readyz 200",
                 lambda port=port: http("GET", "http://127.0.0.1:%d/readyz" % port)[0] == 200)
        check(http("GET", "http://127.0.0.1:%d/healthz" % port)[0] == 200, name + " /healthz")
        check(http("GET", "http://127.0.0.1:%d/nope" % port)[0] == 404, name + " 404")
        check(http("POST", "http://127.0.0.1:%d/metrics" % port, b"x")[0] == 405, name + " 405")

    w0 = scrape(wport)
    g0 = scrape(gport)

    # Orders through the gateway, each with the caller's traceparent.
    ids = []
    for i in range(ORDERS):
        body = json.dumps({"customerId": "c-%d" % i, "currency": "EUR",
                           "items": [{"sku": "BURGER-CLASSIC", "quantity": 1}]}).encode()
        status, headers, text = http("POST", "http://127.0.0.1:%d/v1/orders" % api, body,
                                     {"Content-Type": "application/json",
                                      "traceparent": PARENT})
        check(status == 201, "POST /v1/orders answered %d: %s" % (status, text))
        ids.append(json.loads(text)["orderId"])

    # The worker's series, present and moved by exactly what was sent.
    def worker_done():
        s = scrape(wport)
        return s if value(s, "orderfleet_worker_outcomes_total", status="FULFILLED") >= \
            value(w0, "orderfleet_worker_outcomes_total", status="FULFILLED") + ORDERS else None
    w1 = wait_for("the worker's outcomes to count the orders", worker_done)
    for name, labels in [
            ("orderfleet_worker_outcomes_total", {"status": "REJECTED"}),
            ("orderfleet_worker_outcomes_total", {"status": "FAILED"}),
            ("orderfleet_worker_dead_letters_total", {"class": "decode"}),
            ("orderfleet_worker_retries_total", {}),
            ("orderfleet_worker_rebalances_total", {"kind": "assigned"}),
            ("orderfleet_worker_in_flight", {}),
            ("orderfleet_worker_buffered", {}),
            ("orderfleet_worker_assigned_partitions", {}),
            ("orderfleet_worker_processing_seconds_bucket", {"le": "+Inf"}),
            ("orderfleet_worker_placed_to_completed_seconds_bucket", {"le": "+Inf"}),
            ("process_resident_memory_bytes", {}),
            ("process_cpu_seconds_total", {}),
            ("process_open_fds", {})]:
        check(value(w1, name, **labels) is not None, "worker series %s%s missing" % (name, labels))
    check(value(w1, "orderfleet_worker_orders_consumed_total") -
          value(w0, "orderfleet_worker_orders_consumed_total") == ORDERS, "consumed moved")
    check(value(w1, "orderfleet_worker_processing_seconds_count") -
          value(w0, "orderfleet_worker_processing_seconds_count") == ORDERS, "processing count")
    check(value(w1, "orderfleet_worker_replies_total", result="sent") -
          value(w0, "orderfleet_worker_replies_total", result="sent") == ORDERS, "replies sent")
    check(value(w1, "orderfleet_worker_rebalances_total", kind="assigned") >= 1, "assigned")
    check(value(w1, "orderfleet_worker_assigned_partitions") > 0, "assigned partitions")
    # Lag per partition, every orders partition (empty ones at 0), all 0
    # once the worker has caught up (a statistics interval later).
    def lags():
        s = scrape(wport)
        lag = {dict(k[1])["partition"]: v for k, v in s.items()
               if k[0] == "orderfleet_worker_consumer_lag" and dict(k[1])["topic"] == "orders"}
        return lag if len(lag) == 12 and not any(lag.values()) else None
    try:
        wait_for("lag 0 for the 12 orders partitions", lags)
    except AssertionError as e:
        fail("%s; last: %s" % (e, sorted((dict(k[1])["partition"], v)
                                         for k, v in scrape(wport).items()
                                         if k[0] == "orderfleet_worker_consumer_lag")))

    # The gateway's series.
    g1 = scrape(gport)
    check(value(g1, "orderfleet_gateway_http_requests_total", route="/v1/orders", code="201") -
          (value(g0, "orderfleet_gateway_http_requests_total", route="/v1/orders", code="201")
           or 0) == ORDERS, "gateway 201s counted")
    check(value(g1, "orderfleet_gateway_reply_latency_seconds_count") -
          value(g0, "orderfleet_gateway_reply_latency_seconds_count") == ORDERS, "reply latency")
    check(value(g1, "orderfleet_gateway_requests_total", result="replied") -
          value(g0, "orderfleet_gateway_requests_total", result="replied") == ORDERS, "replied")
    check(value(g1, "orderfleet_gateway_orders_placed_total") -
          value(g0, "orderfleet_gateway_orders_placed_total") == ORDERS, "orders placed")
    for name in ("orderfleet_gateway_waiting_requests", "orderfleet_gateway_late_replies_total",
                 "orderfleet_gateway_unknown_replies_total"):
        check(value(g1, name) is not None, "gateway series %s missing" % name)
    check(value(g1, "orderfleet_gateway_http_request_duration_seconds_count",
                route="/v1/orders") is not None, "request durations by route")

    # One trace from the HTTP request to the outcome and the reply: the same
    # trace id, a new span id at each hop.
    spans = {}
    for topic in ("orders", "orders.completed", "orders.replies"):
        recs = kcat_headers(bootstrap, topic)
        for oid in ids:
            tp = (recs.get(oid) or [{}])[-1].get("traceparent", "")
            if not check(re.fullmatch(r"00-%s-[0-9a-f]{16}-01" % TRACE_ID, tp),
                         "%s record of %s: traceparent %r" % (topic, oid, tp)):
                break
            spans.setdefault(oid, []).append(tp.split("-")[2])
    for oid, s in spans.items():
        check(len(set(s + ["00f067aa0ba902b7"])) == len(s),
              "order %s: the gateway's span repeats another: %s" % (oid, s))
        # the reply and the outcome are the same event of the worker's span
        if len(s) == 3:
            check(s[1] == s[2], "outcome and reply spans of %s differ" % oid)

    # A stuck main loop turns /healthz 503 (and the program says so), then
    # recovers; the other program is not affected.
    stall_and_recover(worker, wport, worker_stall)
    check(http("GET", "http://127.0.0.1:%d/healthz" % gport)[0] == 200, "gateway unaffected")
    stall_and_recover(gateway, gport, gateway_stall)

    # JSON logs: every gateway line is one JSON object with the usual keys.
    gateway.terminate()
    check(gateway.wait(timeout=30) == 0, "the gateway stopped cleanly")
    for line in log_text(gateway).splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            fail("gateway log line is not JSON: %r" % line)
            break
        if not all(k in o for k in ("ts", "level", "prog", "msg")):
            fail("gateway log line lacks ts/level/prog/msg: %r" % line)
            break
    check(SECRET not in log_text(worker), "the worker logged a secret property")
    # Nothing per order at info level: a handful of lines for 30 orders.
    info = [l for l in log_text(worker).splitlines() if "level=info" in l]
    check(not any(oid in l for l in info for oid in ids), "an order id in an info line")


if __name__ == "__main__":
    if RUN.run_main(main, 15):
        sys.exit(1)
    print("test_operations: all checks passed")

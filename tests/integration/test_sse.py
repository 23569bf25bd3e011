#!/usr/bin/python3
"""The buzzer's gateway side (issue 9, docs/buzzer.md), driven from outside on
the embedded broker: order-devbroker, order-gateway (two instances) and
order-worker as real processes, HTTP read for real with http.client.

  test_sse.py BIN_DIR LOG_DIR sse     GET /v1/orders/{id}/events
  test_sse.py BIN_DIR LOG_DIR fleet   GET /v1/fleet and the embedded page

sse: ": waiting" and keep-alives (200 ms) on a stream whose order waits for
a worker; 404 for an unknown id; the stream limit's 503; a client that
disconnects frees its slot (the gauge falls back, a new stream fits); the
outcome event once the worker runs, for an order placed here with
respond-async, one waiting for its reply (Prefer: wait) and one placed
through a second gateway (the history path); each stream ends after its
outcome; the immediate event for a known outcome; on SIGTERM an open stream
gets the shutdown event and the gateway exits 0 promptly.

fleet: placedPerSecond, inFlight and lag move by exactly the orders sent
(no worker yet), then outcomes, ordersPerSecond and inFlight by exactly the
outcomes and lag drops to 0 once the worker has run; the page's three files
are served byte for byte with their headers.

Every wait is a condition polled against a deadline (or a socket read with a
timeout); nothing sleeps to let something happen. Ports are picked by the
programs (port 0) and read from their logs, so runs can go in parallel.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import request  # noqa: E402

MODE = sys.argv[3] if len(sys.argv) > 3 else "sse"
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = fleettest.Run(sys.argv[1] if len(sys.argv) > 1 else "build/bin",
                    sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(),
                    "sse-" + MODE + "-{name}-{pid}.log", timeout=20.0, interval=0.02)
wait_for, start = RUN.wait_for, RUN.start

KEEPALIVE_MS = 200
MAX_STREAMS = 4


def gauge(mport, name):
    _, _, text = request(mport, "GET", "/metrics")
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text.decode(), re.M)
    return float(m.group(1)) if m else None


def place(port, headers=None, customer="c-1"):
    body = json.dumps({"customerId": customer, "currency": "EUR",
                       "items": [{"sku": "BURGER-CLASSIC", "quantity": 1}]})
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return request(port, "POST", "/v1/orders", body, h)


def place_async(port):
    status, _, body = place(port, {"Prefer": "respond-async"})
    assert status == 202, "respond-async POST answered %d: %s" % (status, body)
    return json.loads(body)["orderId"]


class Stream:
    """One GET /v1/orders/{id}/events read line by line as it arrives."""

    def __init__(self, port, order_id, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", "/v1/orders/%s/events" % order_id,
                          headers={"Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.buf = b""
        self.ended = False

    def line(self):
        """The next line (without its newline), or None at the stream's end.
        A socket timeout (nothing for `timeout` seconds) raises."""
        while b"\n" not in self.buf:
            chunk = self.resp.read1(4096)
            if not chunk:
                self.ended = True
                if self.buf:
                    rest, self.buf = self.buf, b""
                    return rest.decode()
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def event(self, within=30.0):
        """Skips comments and blank lines; returns (event, id, data) of the
        next event, or None at the end; raises when none came within
        `within` seconds (keep-alives do not count)."""
        fields = {}
        deadline = time.monotonic() + within
        while True:
            if time.monotonic() > deadline:
                raise AssertionError("no event within %.0f s" % within)
            ln = self.line()
            if ln is None:
                return None
            if ln.startswith(":"):
                continue
            if ln == "":
                if fields:
                    return fields.get("event"), fields.get("id"), fields.get("data")
                continue
            k, _, v = ln.partition(":")
            fields[k] = v[1:] if v.startswith(" ") else v

    def close(self):
        self.conn.close()


def expect_outcome(stream, order_id, what):
    ev = stream.event()
    assert ev is not None, "%s: the stream ended without its outcome" % what
    name, eid, data = ev
    assert name == "outcome", "%s: event %r, not outcome" % (what, name)
    assert eid == order_id, "%s: id %r, not %s" % (what, eid, order_id)
    outcome = json.loads(data)
    assert outcome["orderId"] == order_id, what + ": outcome of another order"
    assert outcome["status"] == "ORDER_STATUS_FULFILLED", "%s: %s" % (what, outcome["status"])
    assert stream.event() is None and stream.ended, what + ": the stream did not end"


def start_fleet(n_gateways, gateway_env=None):
    _, bootstrap = RUN.start_devbroker()
    gws = []
    for i in range(n_gateways):
        env = {"ORDERFLEET_METRICS_LISTEN": "127.0.0.1:0"}
        env.update(gateway_env or {})
        g = start("gateway%d" % i, ["order-gateway", "-b", bootstrap, "-l", "127.0.0.1:0"], env)
        g.api = RUN.port_from_log(g, "msg=listening")
        g.mport = RUN.port_from_log(g, "ops endpoint listening")
        gws.append(g)
    for g in gws:
        wait_for(g.name + " ready", lambda g=g: request(g.api, "GET", "/readyz")[0] == 200)
    return bootstrap, gws


def start_worker(bootstrap):
    return start("worker", ["order-worker", "-b", bootstrap])


def test_sse():
    bootstrap, (a, b) = start_fleet(2, {
        "ORDERFLEET_GATEWAY_SSE_KEEPALIVE_MS": str(KEEPALIVE_MS),
        "ORDERFLEET_GATEWAY_MAX_STREAMS": str(MAX_STREAMS)})

    # Unknown ids: 404 problems, not streams.
    for path in ("/v1/orders/no-such-order/events", "/v1/orders/a%20b/events"):
        status, headers, body = request(a.api, "GET", path)
        assert status == 404, "%s answered %d" % (path, status)
        assert headers["content-type"] == "application/problem+json", headers
        assert "detail" in json.loads(body)
    status, headers, _ = request(a.api, "POST", "/v1/orders/x/events", b"")
    assert status == 405 and "GET" in headers.get("allow", ""), "POST on events: %d" % status

    # No worker yet: these orders wait.
    o1, o2, o3 = place_async(a.api), place_async(a.api), place_async(a.api)
    o5 = place_async(b.api)  # placed through the second gateway

    # Waiting, then keep-alives every 200 ms.
    s1 = Stream(a.api, o1)
    assert s1.status == 200, "events answered %d" % s1.status
    assert s1.headers["content-type"] == "text/event-stream", s1.headers
    assert s1.headers.get("cache-control") == "no-cache", s1.headers
    assert s1.line() == ": waiting"
    t0 = time.monotonic()
    for _ in range(3):
        ln = s1.line()
        assert ln == ": keep-alive", "expected a keep-alive, got %r" % ln
    took = time.monotonic() - t0
    assert 0.4 <= took < 3.0, "3 keep-alives at 200 ms took %.2f s" % took

    # The order placed through the other gateway: known here once the view
    # has read it from topics.orders.
    wait_for("gateway A to know the order placed through B",
             lambda: request(a.api, "GET", "/v1/orders/" + o5)[0] == 202)
    s5 = Stream(a.api, o5)
    assert s5.status == 200 and s5.line() == ": waiting"

    # An order waiting for its reply here (Prefer: wait): its stream hears
    # the outcome from the reply. The POST runs in a thread so it can wait.
    answer = {}
    oid = "sse-wait-%d" % os.getpid()
    body = json.dumps({"orderId": oid, "customerId": "c-9", "currency": "EUR",
                       "items": [{"sku": "BURGER-CLASSIC", "quantity": 1}]})

    def post():
        answer["r"] = request(a.api, "POST", "/v1/orders", body,
                              {"Content-Type": "application/json", "Prefer": "wait=40"},
                              timeout=50)
    t = threading.Thread(target=post)
    t.start()
    wait_for("the POST to wait", lambda: gauge(a.mport, "orderfleet_gateway_waiting_requests") == 1)
    sw = Stream(a.api, oid)
    assert sw.status == 200 and sw.line() == ": waiting"

    # The limit: 4 waiting streams, a fifth is refused.
    s2 = Stream(a.api, o2)
    assert s2.status == 200 and s2.line() == ": waiting"
    assert gauge(a.mport, "orderfleet_gateway_event_streams") == MAX_STREAMS
    status, headers, body = request(a.api, "GET", "/v1/orders/%s/events" % o3)
    assert status == 503, "a fifth stream answered %d" % status
    assert headers.get("retry-after"), "503 without Retry-After"
    assert headers["content-type"] == "application/problem+json"
    assert "event streams" in json.loads(body)["detail"]

    # A client that goes away frees its slot at once (long before the next
    # keep-alive would have found out, were it seconds away).
    s2.close()
    wait_for("the stream gauge to fall back",
             lambda: gauge(a.mport, "orderfleet_gateway_event_streams") == MAX_STREAMS - 1,
             timeout=5)
    s3 = Stream(a.api, o3)
    assert s3.status == 200 and s3.line() == ": waiting", "the freed slot was not reused"

    # The worker starts: every waiting stream gets its outcome and ends.
    worker = start_worker(bootstrap)
    expect_outcome(s1, o1, "respond-async order, this gateway")
    expect_outcome(s3, o3, "respond-async order, after a freed slot")
    expect_outcome(s5, o5, "order placed through the other gateway")
    expect_outcome(sw, oid, "order waiting for its reply")
    t.join(50)
    assert answer.get("r", [0])[0] == 201, "the waiting POST answered %r" % (answer.get("r"),)
    wait_for("the stream gauge to fall to 0",
             lambda: gauge(a.mport, "orderfleet_gateway_event_streams") == 0, timeout=5)
    for s in (s1, s3, s5, sw):
        s.close()

    # A known outcome: the event at once, then the end; no waiting.
    s = Stream(a.api, o1)
    assert s.status == 200
    first = s.line()
    assert first == "event: outcome", "a known outcome began with %r" % first
    s.buf = (first + "\n").encode() + s.buf
    expect_outcome(s, o1, "known outcome")
    s.close()

    # Shutdown: with no worker, a stream waits; SIGTERM gives it the
    # shutdown event and its end, and the gateway exits 0 promptly.
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, "the worker did not stop cleanly"
    o7 = place_async(a.api)
    s7 = Stream(a.api, o7)
    assert s7.status == 200 and s7.line() == ": waiting"
    t0 = time.monotonic()
    a.send_signal(signal.SIGTERM)
    ev = s7.event()
    assert ev is not None and ev[0] == "shutdown", "on SIGTERM the stream got %r" % (ev,)
    assert s7.event() is None and s7.ended, "the stream did not end after shutdown"
    rc = a.wait(10)
    took = time.monotonic() - t0
    assert rc == 0, "the gateway exited %d" % rc
    assert took < 5, "the gateway took %.1f s to exit" % took
    s7.close()
    print("sse: ok (shutdown exit in %.2f s)" % took)


def fleet(port):
    status, headers, body = request(port, "GET", "/v1/fleet")
    assert status == 200 and headers["content-type"] == "application/json", (status, headers)
    return json.loads(body)


def test_fleet():
    n = 20
    bootstrap, (g,) = start_fleet(1)

    # The page, byte for byte, with its headers.
    for path, name, ctype in (("/", "index.html", "text/html; charset=utf-8"),
                              ("/page/app.js", "app.js", "text/javascript"),
                              ("/page/style.css", "style.css", "text/css")):
        status, headers, body = request(g.api, "GET", path)
        assert status == 200, "%s answered %d" % (path, status)
        with open(os.path.join(SRC, "gateway", "page", name), "rb") as f:
            assert body == f.read(), path + " is not gateway/page/" + name
        assert headers["content-type"] == ctype, (path, headers["content-type"])
        assert headers.get("cache-control") == "no-cache", (path, headers)
        assert headers.get("content-security-policy") == "default-src 'self'", (path, headers)
        assert headers.get("x-content-type-options") == "nosniff", (path, headers)
    assert request(g.api, "GET", "/page/")[0] == 404
    assert request(g.api, "POST", "/", b"")[0] == 405

    f0 = fleet(g.api)
    for key in ("time", "ordersPerSecond", "placedPerSecond", "inFlight", "outcomes", "lag",
                "gateway"):
        assert key in f0, "fleet JSON without " + key
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", f0["time"]), f0["time"]
    assert f0["inFlight"] == 0 and f0["placedPerSecond"] == 0, f0
    assert f0["outcomes"] == {"ORDER_STATUS_FULFILLED": 0, "ORDER_STATUS_REJECTED": 0,
                              "ORDER_STATUS_FAILED": 0}, f0
    assert f0["gateway"] == {"waiting": 0, "streams": 0}, f0

    # n orders, no worker: placed, in flight, and lagging, by exactly n.
    ids = [place_async(g.api) for _ in range(n)]
    s = Stream(g.api, ids[0])
    f1 = wait_for("the panel to count %d placed orders in flight" % n,
                  lambda: (lambda f: f if f["inFlight"] == n and
                           abs(f["placedPerSecond"] * 10 - n) < 1e-9 else None)(fleet(g.api)),
                  timeout=8)
    assert f1["gateway"]["streams"] == 1, f1
    assert f1["ordersPerSecond"] == 0, f1
    f2 = wait_for("the lag to show the %d orders" % n,
                  lambda: (lambda f: f if sum(p["lag"] for p in f["lag"]) == n else None)(
                      fleet(g.api)), timeout=10)
    assert len(f2["lag"]) == 12, "lag for %d partitions, not 12" % len(f2["lag"])

    # The worker runs: outcomes by exactly n, nothing in flight, lag 0.
    t0 = time.monotonic()
    start_worker(bootstrap)
    f3 = wait_for("the panel to count %d outcomes" % n,
                  lambda: (lambda f: f if f["outcomes"]["ORDER_STATUS_FULFILLED"] == n
                           else None)(fleet(g.api)), timeout=20)
    assert f3["inFlight"] == 0, f3
    assert f3["outcomes"]["ORDER_STATUS_REJECTED"] == 0, f3
    assert f3["outcomes"]["ORDER_STATUS_FAILED"] == 0, f3
    if time.monotonic() - t0 < 8:  # the outcomes are still inside the 10 s window
        assert abs(f3["ordersPerSecond"] * 10 - n) < 1e-9, f3
    wait_for("the lag to drop to 0",
             lambda: (lambda f: all(p["lag"] == 0 for p in f["lag"]) and len(f["lag"]) == 12)(
                 fleet(g.api)), timeout=15)
    assert s.event()[0] == "outcome"
    s.close()
    print("fleet: ok")


def main():
    try:
        {"sse": test_sse, "fleet": test_fleet}[MODE]()
    finally:
        fleettest.terminate(reversed(RUN.procs))
        for p in reversed(RUN.procs):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A stand-in for order-gateway's page routes, for working on gateway/page/
without building or running anything else: serves the page from the source
tree and fakes the API of docs/buzzer.md (POST /v1/orders, GET
/v1/orders/{id}, its /events stream, GET /v1/fleet) with a kitchen that takes
DELAY seconds per order. Not a test of the gateway: the browser test runs the
real programs. Its own answers follow the contract closely enough that
`node test_page.mjs --url http://127.0.0.1:PORT` passes against it.

Usage: standin.py [--port N] [--delay SECONDS] [--wait SECONDS]
Prints "listening on http://127.0.0.1:PORT" when ready; stops on SIGINT/SIGTERM.
"""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gateway", "page")
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/page/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/page/style.css": ("style.css", "text/css; charset=utf-8")}
PRICES = {"BURGER-CLASSIC": 899, "BURGER-CHEESE": 999, "FRIES-SMALL": 299}
SOLD_OUT = {"SHAKE-PISTACHIO", "PIE-APPLE"}

lock = threading.Condition()
orders = {}      # id -> {"placed": t, "outcome": dict or None, "order": dict}
placed_times = []
done_times = []
streams = [0]
waiting = [0]


def outcome_of(oid, order):
    item = order["items"][0]
    base = {"orderId": oid, "currency": order.get("currency", "EUR"),
            "placedAtMs": str(int(orders[oid]["placed"] * 1000)),
            "completedAtMs": str(int(time.time() * 1000)), "workerId": "standin", "attempts": 1}
    if item["sku"] in SOLD_OUT:
        return dict(base, status="ORDER_STATUS_REJECTED",
                    reason="items[0].sku: %s is out of stock" % item["sku"])
    sub = int(item.get("unitPrice", 0)) * int(item["quantity"])
    tax = (sub * 1900 + 5000) // 10000
    ship = 0 if sub >= 2500 else 299
    return dict(base, status="ORDER_STATUS_FULFILLED", subtotal=str(sub), tax=str(tax),
                shipping=str(ship), total=str(sub + tax + ship))


def kitchen(delay):
    """Completes each order delay seconds after it was placed."""
    while True:
        with lock:
            now = time.time()
            for oid, o in orders.items():
                if o["outcome"] is None and now - o["placed"] >= delay:
                    o["outcome"] = outcome_of(oid, o["order"])
                    done_times.append(now)
            lock.notify_all()
        time.sleep(0.05)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("standin: " + fmt % args + "\n")

    def send(self, status, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", "default-src 'self'")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, title, detail, **extra):
        self.send(status, dict({"type": "urn:orderfleet:problem:x", "title": title,
                                "status": status, "detail": detail}, **extra),
                  "application/problem+json")

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in FILES:
            name, ctype = FILES[path]
            with open(os.path.join(PAGE, name), "rb") as f:
                return self.send(200, f.read(), ctype)
        if path == "/v1/fleet":
            now = time.time()
            with lock:
                outs = {"ORDER_STATUS_FULFILLED": 0, "ORDER_STATUS_REJECTED": 0,
                        "ORDER_STATUS_FAILED": 0}
                for o in orders.values():
                    if o["outcome"]:
                        outs[o["outcome"]["status"]] += 1
                inflight = sum(1 for o in orders.values() if o["outcome"] is None)
                body = {"time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
                        "ordersPerSecond": sum(1 for t in done_times if now - t < 10) / 10,
                        "placedPerSecond": sum(1 for t in placed_times if now - t < 10) / 10,
                        "inFlight": inflight, "outcomes": outs,
                        "lag": [{"partition": p, "lag": random.choice([0, 0, 1, 3])
                                 if inflight else 0} for p in range(12)],
                        "gateway": {"waiting": waiting[0], "streams": streams[0]}}
            return self.send(200, body)
        parts = path.split("/")
        if len(parts) >= 4 and parts[1:3] == ["v1", "orders"]:
            oid = parts[3]
            with lock:
                o = orders.get(oid)
            if o is None:
                return self.problem(404, "Not Found", "no order %s is known here" % oid)
            if len(parts) == 5 and parts[4] == "events":
                return self.events(oid)
            if o["outcome"]:
                return self.send(200, o["outcome"])
            return self.send(202, {"orderId": oid, "state": "accepted"})
        self.problem(404, "Not Found", "no resource at " + path)

    def events(self, oid):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        with lock:
            streams[0] += 1
            if orders[oid]["outcome"] is None:
                self.wfile.write(b": waiting\n\n")
                self.wfile.flush()
            while orders[oid]["outcome"] is None:
                lock.wait(1.0)
            out = orders[oid]["outcome"]
            streams[0] -= 1
        self.wfile.write(("event: outcome\nid: %s\ndata: %s\n\n" % (oid, json.dumps(out)))
                         .encode())
        self.wfile.flush()
        self.close_connection = True

    def do_POST(self):
        if self.path != "/v1/orders":
            return self.problem(404, "Not Found", "no resource at " + self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            order = json.loads(body)
        except ValueError as e:
            return self.problem(400, "Bad Request", "the body is not valid JSON: %s" % e)
        q = order.get("items", [{}])[0].get("quantity")
        if not isinstance(q, int):
            return self.problem(400, "Bad Request",
                                "the order breaks the schema in 1 place: items[0].quantity: "
                                "expected an integer (number or decimal string), got %s"
                                % json.dumps(q),
                                errors=[{"field": "items[0].quantity",
                                         "reason": "expected an integer"}], errorCount=1)
        oid = str(uuid.uuid4())
        with lock:
            orders[oid] = {"placed": time.time(), "outcome": None, "order": order}
            placed_times.append(time.time())
        headers = {"Location": "/v1/orders/" + oid}
        prefer = self.headers.get("Prefer", "")
        if "respond-async" not in prefer:
            wait_s = self.server.wait_s
            for part in prefer.replace(";", ",").split(","):
                name, _, val = part.strip().partition("=")
                if name == "wait" and val.isdigit():
                    wait_s = min(wait_s, int(val))
            deadline = time.time() + wait_s
            with lock:
                waiting[0] += 1
                while orders[oid]["outcome"] is None and time.time() < deadline:
                    lock.wait(deadline - time.time())
                waiting[0] -= 1
                out = orders[oid]["outcome"]
            if out:
                return self.send(201, out, headers=headers)
        self.send(202, {"orderId": oid, "state": "accepted", "location": headers["Location"]},
                  headers=dict(headers, **{"Retry-After": "1"}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--wait", type=float, default=5.0)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.wait_s = a.wait
    threading.Thread(target=kitchen, args=(a.delay,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()

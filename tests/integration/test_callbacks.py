#!/usr/bin/python3
"""Outcome callbacks (issue 9), end to end on the embedded broker: a real
order-gateway and order-worker, and a receiver (http.server on a free port)
that verifies every Orderfleet-Signature with the shared secret and records
each delivery.

  - an order placed with callbackUrl and Prefer: respond-async gets exactly
    one verified delivery, whose body is byte for byte what GET
    /v1/orders/{id} answers, with Orderfleet-Order-Id, Orderfleet-Delivery
    and a traceparent in the order's trace; a waiting POST (201) too
  - a receiver answering 503 twice, then 200, gets three attempts with the
    same delivery id, each signed anew
  - a receiver answering 400 gets exactly one attempt (given up)
  - a host not in gateway.callback_hosts: 422 naming the host and the
    setting, and no order placed; a bad URL: 400; a gateway without
    callback hosts: 422 callbacks-disabled
  - the callback metrics count what happened; --check-config refuses hosts
    without a secret (78); the secret appears in no log line
  - a stop while a delivery retries: retries due within the grace period
    are made, the rest logged undelivered with the order id; exit 0

Usage: test_callbacks.py BIN_DIR [LOG_DIR]   (run by ctest as test_callbacks)

Every wait is a condition polled against a deadline; nothing sleeps for a
fixed time to let something happen. Ports are chosen by the programs (port
0) and read from their logs.
"""
import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import http, log_text  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
LOGS = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp())
RUN = fleettest.Run(BIN, LOGS, "callbacks-{name}-{pid}.log",
                    env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
check, wait_for, start = RUN.check, RUN.wait_for, RUN.start
SECRET = "cb-secret-7Qx2-do-not-log"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = "00-%s-b7ad6b7169203331-01" % TRACE_ID
ORDER = {"customerId": "c-cb", "currency": "EUR",
         "items": [{"sku": "BURGER-CLASSIC", "quantity": 1}]}


# ---- the receiver ----------------------------------------------------------

class Receiver:
    """Records every POST: path, headers, body, and whether its signature
    verified. /ok answers 200; /flaky 503 to the first two attempts of each
    delivery id, then 200; /bad 400; /hang answers only once released."""

    def __init__(self):
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.deliveries = []
        self.attempts_by_delivery = {}
        recv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                verified, why = recv.verify(self.headers.get("Orderfleet-Signature", ""), body)
                did = self.headers.get("Orderfleet-Delivery", "")
                with recv.lock:
                    k = recv.attempts_by_delivery.get(did, 0) + 1
                    recv.attempts_by_delivery[did] = k
                    recv.deliveries.append({"path": self.path, "headers": dict(self.headers),
                                            "body": body, "verified": verified, "why": why})
                status = 200
                if self.path == "/hang":
                    recv.released.wait(60)  # a receiver that does not answer
                if self.path == "/flaky" and k <= 2:
                    status = 503
                elif self.path == "/bad":
                    status = 400
                elif self.path == "/down":
                    status = 503
                out = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def verify(header, body, tolerance_s=300):
        """What a receiver does (docs/buzzer.md): recompute the HMAC of
        "<t>.<body>", compare in constant time, refuse an old t."""
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t, v1 = parts.get("t", ""), parts.get("v1", "")
        if not t.isdigit() or not v1:
            return False, "malformed header %r" % header
        if abs(time.time() - int(t)) > tolerance_s:
            return False, "stale t=%s" % t
        want = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, v1):
            return False, "signature mismatch"
        return True, ""

    def for_order(self, order_id):
        with self.lock:
            return [d for d in self.deliveries
                    if d["headers"].get("Orderfleet-Order-Id") == order_id]


# ---- requests ---------------------------------------------------------------

def post_order(api, extra, headers=None):
    body = dict(ORDER)
    body.update(extra)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return http("POST", "http://127.0.0.1:%d/v1/orders" % api, json.dumps(body).encode(), h,
                decode=False)


def metric(mport, name, labels=""):
    text = http("GET", "http://127.0.0.1:%d/metrics" % mport)[2]
    m = re.search(r"^orderfleet_gateway_%s%s (\S+)$" % (re.escape(name), re.escape(labels)),
                  text, re.M)
    return float(m.group(1)) if m else None


def main():
    recv = Receiver()
    base = "http://127.0.0.1:%d" % recv.port

    # --check-config: hosts without a secret are a configuration error (78),
    # named; with the secret, valid, and the secret is not echoed.
    r = subprocess.run([os.path.join(BIN, "order-gateway"), "--check-config"],
                       env=dict(os.environ, ORDERFLEET_GATEWAY_CALLBACK_HOSTS="127.0.0.1"),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 78 and "gateway.callback_secret" in r.stderr,
          "--check-config without a secret: %d %r" % (r.returncode, r.stderr))
    r = subprocess.run([os.path.join(BIN, "order-gateway"), "--check-config", "-v"],
                       env=dict(os.environ, ORDERFLEET_GATEWAY_CALLBACK_HOSTS="127.0.0.1",
                                ORDERFLEET_GATEWAY_CALLBACK_SECRET=SECRET),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "--check-config with a secret: %d %r" % (r.returncode, r.stderr))
    check(SECRET not in r.stdout + r.stderr, "--check-config echoed the secret")
    # The secret from a file: the rules of every secret file (config_read_secret_file):
    # refused while every user may read it, named; accepted once it is 0600.
    os.makedirs(LOGS, exist_ok=True)
    secret_file = os.path.join(LOGS, "callback-secret.txt")
    with open(secret_file, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(secret_file, 0o644)
    file_env = dict(os.environ, ORDERFLEET_GATEWAY_CALLBACK_HOSTS="127.0.0.1",
                    ORDERFLEET_GATEWAY_CALLBACK_SECRET_FILE=secret_file)
    r = subprocess.run([os.path.join(BIN, "order-gateway"), "--check-config"], env=file_env,
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 78 and "gateway.callback_secret_file" in r.stderr
          and "every user may read it" in r.stderr,
          "--check-config with a world-readable secret file: %d %r" % (r.returncode, r.stderr))
    os.chmod(secret_file, 0o600)
    r = subprocess.run([os.path.join(BIN, "order-gateway"), "--check-config"], env=file_env,
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and SECRET not in r.stdout + r.stderr,
          "--check-config with a 0600 secret file: %d %r" % (r.returncode, r.stderr))

    _, bootstrap = RUN.start_devbroker()
    start("worker", ["order-worker", "-b", bootstrap])
    # At debug level: the secret must appear in no line even so.
    gateway = start("gateway", ["order-gateway", "-b", bootstrap, "-l", "127.0.0.1:0", "-v"],
                    {"ORDERFLEET_GATEWAY_CALLBACK_HOSTS": "127.0.0.1:%d, *.example.test"
                                                          % recv.port,
                     "ORDERFLEET_GATEWAY_CALLBACK_SECRET": SECRET,
                     "ORDERFLEET_GATEWAY_CALLBACK_TIMEOUT_MS": "3000",
                     "ORDERFLEET_METRICS_LISTEN": "127.0.0.1:0"})
    # Callbacks off: no callback_hosts.
    plain = start("gateway-off", ["order-gateway", "-b", bootstrap, "-l", "127.0.0.1:0"])
    api = RUN.port_from_log(gateway, "msg=listening")
    mport = RUN.port_from_log(gateway, "ops endpoint listening")
    api_off = RUN.port_from_log(plain, "msg=listening")
    for port in (api, api_off):
        wait_for("gateway %d ready" % port,
                 lambda port=port: http("GET", "http://127.0.0.1:%d/readyz" % port)[0] == 200)

    # 1. respond-async: 202 now, the outcome POSTed later, once.
    status, _, text = post_order(api, {"callbackUrl": base + "/ok"},
                                 {"Prefer": "respond-async", "traceparent": PARENT})
    check(status == 202, "async POST with callbackUrl: %d %s" % (status, text))
    oid = json.loads(text)["orderId"]
    got = wait_for("the callback of " + oid, lambda: recv.for_order(oid), timeout=30)[0]
    check(got["verified"], "signature of %s: %s" % (oid, got["why"]))
    check(got["path"] == "/ok", "path " + got["path"])
    st, _, outcome = http("GET", "http://127.0.0.1:%d/v1/orders/%s" % (api, oid), decode=False)
    check(st == 200, "GET after the callback: %d" % st)
    check(got["body"] == outcome, "callback body %r != GET %r" % (got["body"], outcome))
    check(json.loads(got["body"]).get("status") == "ORDER_STATUS_FULFILLED", "outcome status")
    h = got["headers"]
    check(h.get("Content-Type") == "application/json", "Content-Type %r" % h.get("Content-Type"))
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                       h.get("Orderfleet-Delivery", "")), "delivery id %r" % h)
    tp = h.get("traceparent", "")
    check(re.fullmatch(r"00-%s-[0-9a-f]{16}-01" % TRACE_ID, tp) and "b7ad6b7169203331" not in tp,
          "callback traceparent %r does not continue the order's trace" % tp)

    # 1b. a waiting POST (201 by reply): the same body as its answer.
    status, _, answer = post_order(api, {"callbackUrl": base + "/ok?waited=1"})
    check(status == 201, "waiting POST with callbackUrl: %d %s" % (status, answer))
    oid_sync = json.loads(answer)["orderId"]
    got = wait_for("the callback of " + oid_sync, lambda: recv.for_order(oid_sync))[0]
    check(got["verified"] and got["body"] == answer and got["path"] == "/ok?waited=1",
          "waited order's callback: %r vs %r" % (got, answer))
    check(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01",
                       got["headers"].get("traceparent", "")), "a new trace without a parent")

    # 2. 503, 503, 200: three attempts, one delivery id, each verified.
    status, _, text = post_order(api, {"callbackUrl": base + "/flaky"},
                                 {"Prefer": "respond-async"})
    check(status == 202, "flaky POST: %d" % status)
    oid_flaky = json.loads(text)["orderId"]
    # 3. 400: given up after one attempt.
    status, _, text = post_order(api, {"callbackUrl": base + "/bad"},
                                 {"Prefer": "respond-async"})
    check(status == 202, "bad-receiver POST: %d" % status)
    oid_bad = json.loads(text)["orderId"]
    flaky = wait_for("three attempts of " + oid_flaky,
                     lambda: len(recv.for_order(oid_flaky)) >= 3 and recv.for_order(oid_flaky),
                     timeout=40)
    check(len({d["headers"].get("Orderfleet-Delivery") for d in flaky}) == 1,
          "delivery ids differ across retries")
    check(all(d["verified"] for d in flaky), "a retry's signature did not verify")
    check(len({d["body"] for d in flaky}) == 1, "retries carry different bodies")
    # The metrics say when the gateway is done with every delivery so far.
    wait_for("delivered 3, failed 1",
             lambda: metric(mport, "callbacks_total", '{result="delivered"}') == 3 and
             metric(mport, "callbacks_total", '{result="failed"}') == 1)
    check(metric(mport, "callback_retries_total") == 2, "retries counted")
    check(metric(mport, "callbacks_total", '{result="dropped"}') == 0, "none dropped")
    check(metric(mport, "callback_latency_seconds_count") == 3, "latency observed per delivery")
    check(len(recv.for_order(oid_bad)) == 1, "a 400 receiver got %d attempts" %
          len(recv.for_order(oid_bad)))
    check(len(recv.for_order(oid)) == 1, "the async order got %d deliveries" %
          len(recv.for_order(oid)))
    check(len(recv.for_order(oid_flaky)) == 3, "the flaky receiver got %d attempts" %
          len(recv.for_order(oid_flaky)))
    check("callback undelivered" in log_text(gateway) and oid_bad in log_text(gateway),
          "the given-up delivery was not logged")

    # 4. A host not allowed: 422 naming host and setting; nothing placed.
    denied_id = "cb-denied-%d" % os.getpid()
    placed_before = metric(mport, "orders_placed_total")
    status, headers, text = post_order(api, {"orderId": denied_id,
                                             "callbackUrl": "https://evil.test:8443/hook"})
    problem = json.loads(text or b"{}")
    check(status == 422 and headers.get("Content-Type") == "application/problem+json",
          "disallowed host: %d %r" % (status, text))
    check(problem.get("type", "").endswith("callback-host-not-allowed") and
          "evil.test" in problem.get("detail", "") and
          "gateway.callback_hosts" in problem.get("detail", ""), "problem %r" % problem)
    check(http("GET", "http://127.0.0.1:%d/v1/orders/%s" % (api, denied_id))[0] == 404,
          "a refused order is known")
    check(metric(mport, "orders_placed_total") == placed_before, "a refused order was placed")
    # allowed by the wildcard, but not a valid URL: 400 on the field
    for bad, says in ((base + "/x#frag", "fragment"), ("ftp://a.example.test/", "http"),
                      (42, "expected a string")):
        status, _, text = post_order(api, {"callbackUrl": bad})
        problem = json.loads(text or b"{}")
        check(status == 400 and says in problem.get("detail", "") and
              problem.get("errors", [{}])[0].get("field") == "callbackUrl",
              "callbackUrl %r: %d %r" % (bad, status, text))
    # 5. Callbacks off on the other gateway: 422 saying so.
    status, _, text = post_order(api_off, {"callbackUrl": base + "/ok"})
    problem = json.loads(text or b"{}")
    check(status == 422 and problem.get("type", "").endswith("callbacks-disabled") and
          "gateway.callback_hosts" in problem.get("detail", ""),
          "callbacks off: %d %r" % (status, text))
    # Without callbackUrl nothing changes.
    status, _, text = post_order(api_off, {})
    check(status == 201, "plain POST: %d %r" % (status, text))

    # 6. Shutdown with a delivery retrying (a receiver that is down): the
    # retries due within the grace period (5 s) are still made, the rest
    # logged undelivered with the order id; the gateway exits 0 in time.
    status, _, text = post_order(api, {"callbackUrl": base + "/down"},
                                 {"Prefer": "respond-async"})
    oid_down = json.loads(text)["orderId"]
    wait_for("a first attempt of " + oid_down, lambda: recv.for_order(oid_down))
    t_stop = time.monotonic()
    gateway.terminate()
    check(gateway.wait(timeout=30) == 0, "gateway stopped cleanly")
    took = time.monotonic() - t_stop
    check(took < 15, "the stop took %.1f s" % took)
    check(len(recv.for_order(oid_down)) >= 2, "no retry during the grace period")
    undelivered = [l for l in log_text(gateway).splitlines()
                   if "callback undelivered" in l and oid_down in l]
    check(undelivered and "stopping" in undelivered[-1],
          "the delivery cut by the stop was not logged: %r" % undelivered)
    check(re.search(r'msg="callbacks stopped".*undelivered_at_shutdown=1', log_text(gateway)),
          "the stop summary")

    # 7. Shutdown during an attempt that the receiver never answers, with a
    # per-attempt timeout (30 s) far beyond the grace period (5 s): the attempt
    # is cut at the grace's end, so the gateway still exits in time.
    slow = start("gateway-slow", ["order-gateway", "-b", bootstrap, "-l", "127.0.0.1:0"],
                 {"ORDERFLEET_GATEWAY_CALLBACK_HOSTS": "127.0.0.1:%d" % recv.port,
                  "ORDERFLEET_GATEWAY_CALLBACK_SECRET": SECRET,
                  "ORDERFLEET_GATEWAY_CALLBACK_TIMEOUT_MS": "30000"})
    api_slow = RUN.port_from_log(slow, "msg=listening")
    wait_for("gateway-slow ready",
             lambda: http("GET", "http://127.0.0.1:%d/readyz" % api_slow)[0] == 200)
    status, _, text = post_order(api_slow, {"callbackUrl": base + "/hang"},
                                 {"Prefer": "respond-async"})
    oid_hang = json.loads(text)["orderId"]
    wait_for("the attempt of " + oid_hang, lambda: recv.for_order(oid_hang))
    t_stop = time.monotonic()
    slow.terminate()
    check(slow.wait(timeout=40) == 0, "gateway-slow stopped cleanly")
    took = time.monotonic() - t_stop
    recv.released.set()
    check(took < 10, "the stop waited %.1f s for an attempt the receiver never answered" % took)
    check(any("callback undelivered" in l and oid_hang in l
              for l in log_text(slow).splitlines()),
          "the attempt cut by the stop was not logged undelivered")

    # A clean stop, and the secret in no line of any log.
    for p in (plain,):
        p.terminate()
        check(p.wait(timeout=30) == 0, p.name + " stopped cleanly")
    for p in RUN.procs:
        check(SECRET not in log_text(p), "the secret is in the log of " + p.name)
    check(all(d["verified"] for d in recv.deliveries), "an unverified delivery")
    print("test_callbacks: %d deliveries received and verified" % len(recv.deliveries))


if __name__ == "__main__":
    t0 = time.monotonic()
    if RUN.run_main(main):
        print("test_callbacks: 0 passed, %d failed" % len(RUN.failures))
        sys.exit(1)
    print("test_callbacks: all checks passed in %.1f s" % (time.monotonic() - t0))

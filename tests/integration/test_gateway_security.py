#!/usr/bin/python3
"""The gateway's access control and limits over HTTP, on the embedded broker
(docs/security.md):

- API keys: 401 (no key, unknown key; WWW-Authenticate: Bearer) and 403
  (known key without the scope, naming it) as problem+json, 200/202 with the
  scope, per route; Bearer and X-API-Key; the page and /healthz, /readyz open;
  the key file reloaded on SIGHUP; order-gateway --hash-key; the refusals
  counted on /metrics; a broken key file is a config error (78).
- Limits: headers too large (431), body too large (413), a slowloris sending
  header bytes cut off within gateway.request_timeout_ms while a normal
  client is served, a slow body answered 408, the connection limit refusing
  (closed at once, not hanging).
- Kafka secrets by configuration: sasl.password from a file (the
  <name>_file form, env and -X), a world-readable secret file refused, and
  the secret in no message of --check-config.

Usage: test_gateway_security.py BIN_DIR [LOG_DIR]   (ctest: test_gateway_security)

Every wait is a condition polled against a deadline.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import http, log_text  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
RUN = fleettest.Run(BIN, sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(),
                    "security-{name}-{pid}.log")
fail, check, wait_for, start = RUN.fail, RUN.check, RUN.wait_for, RUN.start
TIMEOUT_MS = 1500
MAX_CONNECTIONS = 8
MAX_BODY = 1024
WRITER_KEY = "wk-5d1c0b7e2f4a49c38e61a0f2b7d9c4e1"
READER_KEY = "rk-0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"
LATE_KEY = "lk-77f0c2b1a3d4e5f60718293a4b5c6d7e"
KAFKA_SECRET = "kafka-pw-3e9b1f0a7c"
ORDER = json.dumps({"customerId": "c-1", "currency": "EUR",
                    "items": [{"sku": "BURGER-CLASSIC", "quantity": 1}]}).encode()


def raw(port, data, timeout=10):
    """Sends data on a new connection; returns (status or None, seconds until
    the answer or the close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.monotonic()
    try:
        s.sendall(data)
        got = recv_all(s)
    finally:
        s.close()
    return status_of(got), time.monotonic() - t0


def recv_all(s):
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got:
                head, _, rest = got.partition(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
    except (ConnectionResetError, BrokenPipeError):
        pass
    return got


def status_of(got):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return int(m.group(1)) if m else None


def hash_key(key):
    r = subprocess.run([os.path.join(BIN, "order-gateway"), "--hash-key"], input=key + "\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "--hash-key exited %d: %s" % (r.returncode, r.stderr)
    line = r.stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", line), "--hash-key printed %r" % line
    return line


def write_keys(path, lines):
    with open(path + ".tmp", "w") as f:
        f.write("# test keys\n" + "\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def xkey(headers, key):
    """headers with X-API-Key: key."""
    return dict(headers, **{"X-API-Key": key})


def check_problem(status, headers, text, want, what):
    if not check(status == want, "%s: want %d, got %d: %s" % (what, want, status, text)):
        return {}
    check(headers.get("Content-Type", "").startswith("application/problem+json"),
          "%s: content type %s" % (what, headers.get("Content-Type")))
    try:
        body = json.loads(text)
    except ValueError:
        fail("%s: body is not JSON: %r" % (what, text))
        return {}
    check(body.get("status") == want, "%s: problem status %r" % (what, body.get("status")))
    return body


def test_secrets(tmp):
    """Kafka secrets from a file or the environment, never in a message."""
    gw = os.path.join(BIN, "order-gateway")
    pw = os.path.join(tmp, "kafka.password")
    with open(pw, "w") as f:
        f.write(KAFKA_SECRET + "\n")
    os.chmod(pw, 0o640)
    base = ["-b", "127.0.0.1:9", "-X", "security.protocol=sasl_ssl",
            "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=u"]
    env = fleettest.clean_env()
    runs = [
        ("-X file", base + ["-X", "sasl.password.file=" + pw, "--check-config"], env),
        ("env file", base + ["--check-config"], dict(env, ORDERFLEET_KAFKA_SASL_PASSWORD_FILE=pw)),
        ("env", base + ["--check-config"], dict(env, ORDERFLEET_KAFKA_SASL_PASSWORD=KAFKA_SECRET)),
    ]
    cfg = os.path.join(tmp, "secret.cfg")
    with open(cfg, "w") as f:
        f.write('kafka = {\n  sasl_password_file = "%s";\n};\n' % pw)
    runs.append(("config file", base + ["-c", cfg, "--check-config"], env))
    for what, args, e in runs:
        r = subprocess.run([gw] + args, capture_output=True, text=True, env=e, timeout=30)
        check(r.returncode == 0, "secret by %s: --check-config exited %d: %s"
              % (what, r.returncode, r.stderr))
        check(KAFKA_SECRET not in r.stdout + r.stderr, "secret by %s: shown" % what)
    # A secret the wrong type of value for librdkafka: the error names the
    # property, not the value.
    r = subprocess.run([gw] + base + ["-X", "ssl.key.password.file=" + pw, "--check-config",
                                      "-X", "sasl.password=" + KAFKA_SECRET + "x"],
                       capture_output=True, text=True, env=env, timeout=30)
    check(KAFKA_SECRET not in r.stdout + r.stderr, "a secret in a --check-config message")
    # World-readable: refused, with the file and the fix named.
    os.chmod(pw, 0o644)
    r = subprocess.run([gw] + base + ["-X", "sasl.password.file=" + pw, "--check-config"],
                       capture_output=True, text=True, env=env, timeout=30)
    check(r.returncode == 78 and "every user may read it" in r.stderr and pw in r.stderr,
          "world-readable secret file: exit %d: %s" % (r.returncode, r.stderr))
    check(KAFKA_SECRET not in r.stderr, "the refused file's content shown")
    os.chmod(pw, 0o600)
    r = subprocess.run([gw] + base + ["-X", "sasl.password.file=" + pw + ".missing",
                                      "--check-config"],
                       capture_output=True, text=True, env=env, timeout=30)
    check(r.returncode == 78 and "cannot open" in r.stderr and "sasl.password" in r.stderr,
          "missing secret file: exit %d: %s" % (r.returncode, r.stderr))
    # The example deploy/config/secure.cfg passes --check-config, its
    # secret files given by the environment (which overrides the file's).
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                           "config", "secure.cfg")
    keys = os.path.join(tmp, "example.keys")
    with open(keys, "w") as f:
        f.write("shop orders:write %s\n" % hash_key("example-key"))
    for prog in ("order-gateway", "order-worker"):
        r = subprocess.run([os.path.join(BIN, prog), "-c", example, "--check-config"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(env, ORDERFLEET_KAFKA_SASL_PASSWORD_FILE=pw,
                                    ORDERFLEET_GATEWAY_API_KEYS_FILE=keys))
        check(r.returncode == 0, "%s -c secure.cfg --check-config: exit %d: %s"
              % (prog, r.returncode, r.stderr))
    # A broken API key file is a config error too, before Kafka.
    bad = os.path.join(tmp, "bad.keys")
    with open(bad, "w") as f:
        f.write("shop orders:write sha256:00\n")
    r = subprocess.run([gw, "-b", "127.0.0.1:9", "--check-config"], capture_output=True,
                       text=True, timeout=30,
                       env=dict(env, ORDERFLEET_GATEWAY_API_KEYS_FILE=bad))
    check(r.returncode == 78 and bad + ":1:" in r.stderr,
          "broken key file: exit %d: %s" % (r.returncode, r.stderr))


def test_access(api, keys_path, gateway):
    base = "http://127.0.0.1:%d" % api
    post_headers = {"Content-Type": "application/json", "Prefer": "respond-async"}

    # Open: the page, health, readiness.
    for path in ("/healthz", "/readyz", "/"):
        check(http("GET", base + path)[0] == 200, "GET %s without a key" % path)

    # POST /v1/orders: orders:write.
    s, h, t = http("POST", base + "/v1/orders", ORDER, post_headers)
    check_problem(s, h, t, 401, "POST without a key")
    check(h.get("WWW-Authenticate", "").startswith("Bearer"), "401 without WWW-Authenticate")
    s, h, t = http("POST", base + "/v1/orders", ORDER,
                   dict(post_headers, Authorization="Bearer not-a-key"))
    check_problem(s, h, t, 401, "POST with an unknown key")
    check('error="invalid_token"' in h.get("WWW-Authenticate", ""),
          "unknown key: WWW-Authenticate " + h.get("WWW-Authenticate", ""))
    check("not-a-key" not in t, "the presented key echoed in the answer")
    s, h, t = http("POST", base + "/v1/orders", ORDER, xkey(post_headers, READER_KEY))
    body = check_problem(s, h, t, 403, "POST with a read-only key")
    check(body.get("scope") == "orders:write" and "orders:write" in body.get("detail", ""),
          "403 names the scope: %s" % t)
    check('"reader"' in body.get("detail", ""), "403 names the key: %s" % t)
    s, h, t = http("POST", base + "/v1/orders", ORDER,
                   dict(post_headers, Authorization="Bearer " + WRITER_KEY))
    check(s == 202, "POST with the writer key: %d %s" % (s, t))
    order_id = json.loads(t).get("orderId", "x") if s == 202 else "x"

    # GET /v1/orders/{id}, /v1/fleet, /events: orders:read.
    for path in ("/v1/orders/" + order_id, "/v1/fleet", "/v1/orders/%s/events" % order_id):
        s, h, t = http("GET", base + path)
        check_problem(s, h, t, 401, "GET %s without a key" % path)
    s, h, t = http("GET", base + "/v1/orders/" + order_id, None,
                   {"Authorization": "Bearer " + WRITER_KEY})
    check_problem(s, h, t, 403, "GET an order with a write-only key")
    s, h, t = http("GET", base + "/v1/orders/" + order_id, None, {"X-API-Key": READER_KEY})
    check(s in (200, 202), "GET an order with the reader key: %d %s" % (s, t))
    s, h, t = http("GET", base + "/v1/fleet", None, {"Authorization": "bearer " + READER_KEY})
    check(s == 200, "GET /v1/fleet with the reader key: %d %s" % (s, t))

    # SIGHUP: a key added to the file works without a restart.
    s, _, _ = http("POST", base + "/v1/orders", ORDER, xkey(post_headers, LATE_KEY))
    check(s == 401, "the late key before the reload: %d" % s)
    with open(keys_path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    write_keys(keys_path, lines + ["late orders:write,orders:read " + hash_key(LATE_KEY)])
    gateway.send_signal(signal.SIGHUP)
    wait_for("the late key to work after SIGHUP",
             lambda: http("POST", base + "/v1/orders", ORDER,
                          xkey(post_headers, LATE_KEY))[0] == 202, timeout=10)
    check("API keys reloaded" in log_text(gateway), "no log line of the reload")
    # A broken file on SIGHUP: the old keys stay, the error is logged.
    with open(keys_path, "a") as f:
        f.write("broken\n")
    gateway.send_signal(signal.SIGHUP)
    wait_for("the failed reload to be logged",
             lambda: "API keys not reloaded" in log_text(gateway), timeout=10)
    s, _, _ = http("POST", base + "/v1/orders", ORDER, xkey(post_headers, LATE_KEY))
    check(s == 202, "keys after a failed reload: %d" % s)


def test_limits(api, ops):
    base = "http://127.0.0.1:%d" % api
    auth = "Authorization: Bearer %s\r\n" % WRITER_KEY

    # Headers larger than gateway.max_header_bytes: 431.
    big = "X-Filler: " + "a" * 16000 + "\r\n"
    s, _ = raw(api, ("GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + "\r\n").encode())
    check(s == 431, "headers too large: got %s, want 431" % s)

    # Body larger than gateway.max_body: 413 (announced, and sent).
    body = b'{"customerId":"' + b"c" * (MAX_BODY * 2) + b'"}'
    s, h, t = http("POST", base + "/v1/orders", body,
                   {"Content-Type": "application/json", "Authorization": "Bearer " + WRITER_KEY})
    check_problem(s, h, t, 413, "body too large")

    # Slowloris in the headers: a byte every 200 ms, never the end of the
    # headers. Cut off within the timeout (+ a margin for the loop), while a
    # normal client is served meanwhile.
    s = socket.create_connection(("127.0.0.1", api), timeout=10)
    t0 = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    closed_after = None
    served_meanwhile = False
    i = 0
    while time.monotonic() - t0 < TIMEOUT_MS / 1000.0 + 5:
        try:
            s.sendall(b"X-Slow-%d: y\r\n" % i)
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - t0
            break
        s.settimeout(0.2)
        try:
            if s.recv(1024) == b"":
                closed_after = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed_after = time.monotonic() - t0
            break
        if not served_meanwhile:
            served_meanwhile = http("GET", base + "/healthz")[0] == 200
        i += 1
    s.close()
    check(closed_after is not None, "slowloris (headers) never cut off")
    if closed_after is not None:
        check(TIMEOUT_MS / 1000.0 * 0.9 <= closed_after <= TIMEOUT_MS / 1000.0 + 1.5,
              "slowloris (headers) cut after %.2f s, timeout %.1f s" % (closed_after,
                                                                      TIMEOUT_MS / 1000.0))
    check(served_meanwhile, "a normal client was not served during the slowloris")

    # Slowloris in the body: the headers whole, the body a byte every 200
    # ms: answered 408 once late.
    s = socket.create_connection(("127.0.0.1", api), timeout=10)
    t0 = time.monotonic()
    s.sendall(("POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               + auth + "Content-Length: 500\r\n\r\n").encode())
    got = b""
    s.settimeout(0.2)
    while time.monotonic() - t0 < TIMEOUT_MS / 1000.0 + 5:
        try:
            s.sendall(b" ")
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got and b"}" in got:
                break
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    elapsed = time.monotonic() - t0
    s.close()
    check(status_of(got) == 408, "slow body: got %r, want 408" % got[:200])
    check(b"request-timeout" in got, "408 without its problem type: %r" % got[:300])
    check(elapsed <= TIMEOUT_MS / 1000.0 + 2, "slow body answered after %.2f s" % elapsed)

    # Told 408, never served: a body completed right after its 408 (within
    # the grace before the cut) does not place the order.
    placed = metric(ops, "orderfleet_gateway_orders_placed_total")
    body = ORDER
    s = socket.create_connection(("127.0.0.1", api), timeout=10)
    s.sendall(("POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               + auth + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body[:1])
    s.settimeout(TIMEOUT_MS / 1000.0 + 5)
    got = s.recv(65536)
    try:
        s.sendall(body[1:])  # the rest at once, inside the grace
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    s.close()
    check(status_of(got) == 408, "late body: got %r, want 408" % got[:200])
    check(b"HTTP/1.1 201" not in got and b"HTTP/1.1 202" not in got,
          "a request answered 408 was served too: %r" % got[:400])
    check(metric(ops, "orderfleet_gateway_orders_placed_total") == placed,
          "a request answered 408 placed its order (orders_placed_total %s -> %s)" %
          (placed, metric(ops, "orderfleet_gateway_orders_placed_total")))

    # A request that arrived whole is not cut, even when its answer waits
    # longer than the timeout: a POST waiting (Prefer: wait) for a reply
    # no worker sends gets its 202 after 3 s > 1.5 s.
    s, h, t = http("POST", base + "/v1/orders", ORDER,
                   {"Content-Type": "application/json", "Prefer": "wait=3",
                    "Authorization": "Bearer " + WRITER_KEY})
    check(s == 202, "a waiting request was cut off: %d %s" % (s, t))

    # Connection limit: MAX_CONNECTIONS connections held by POSTs waiting for
    # a reply no worker sends (a request in whole is never cut by the request
    # timeout, so nothing here races TIMEOUT_MS, however slow the machine);
    # once all are waiting, the next connection is answered 503 and closed at
    # once - not left hanging.
    post = (("POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Prefer: wait=4\r\n" + auth + "Content-Length: %d\r\n\r\n" % len(ORDER))
            .encode() + ORDER)
    # the connections of the steps before closed first (the gauge is the count
    # the limit is checked against)
    wait_for("no connection left open",
             lambda: metric(ops, "orderfleet_gateway_http_connections") == 0, timeout=20)
    held = []
    for _ in range(MAX_CONNECTIONS):
        h = socket.create_connection(("127.0.0.1", api), timeout=10)
        h.sendall(post)
        held.append(h)
    wait_for("%d requests waiting" % MAX_CONNECTIONS,
             lambda: metric(ops, "orderfleet_gateway_waiting_requests") == MAX_CONNECTIONS,
             timeout=20)
    # (the 503 may be lost to a reset when the request was already sent:
    # either way a refusal, at once)
    st, secs = raw(api, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    c = socket.create_connection(("127.0.0.1", api), timeout=5)
    got = recv_all(c)  # sends nothing: the 503 arrives whole, then the close
    c.close()
    # the held ones get their 202 when their wait ends, and are closed
    answered = 0
    for h in held:
        h.settimeout(15)
        answered += status_of(h.recv(4096)) == 202
        h.close()
    check(answered == MAX_CONNECTIONS, "held requests answered 202: %d of %d" %
          (answered, MAX_CONNECTIONS))
    check(st in (None, 503) and secs < 1,
          "connection beyond the limit: status %s after %.2f s, want 503 or a close" % (st, secs))
    check(status_of(got) == 503 and b"Retry-After: 5" in got and b"max_connections" in got,
          "connection beyond the limit, silent client: got %r" % got[:200])
    wait_for("a new connection to be served after the held ones closed",
             lambda: raw(api, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         timeout=5)[0] == 200, timeout=10)


def metric(port, name, **labels):
    _, _, text = http("GET", "http://127.0.0.1:%d/metrics" % port)
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else "") + " "):
            return float(line.split()[-1])
    return None


def main():
    tmp = tempfile.mkdtemp()
    test_secrets(tmp)

    keys = os.path.join(tmp, "api.keys")
    write_keys(keys, ["writer orders:write " + hash_key(WRITER_KEY),
                      "reader orders:read " + hash_key(READER_KEY)])
    _, bootstrap = RUN.start_devbroker()
    gateway = start("gateway", ["order-gateway", "-b", bootstrap, "-l", "127.0.0.1:0"],
                    {"ORDERFLEET_GATEWAY_API_KEYS_FILE": keys,
                     "ORDERFLEET_GATEWAY_REQUEST_TIMEOUT_MS": str(TIMEOUT_MS),
                     "ORDERFLEET_GATEWAY_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
                     "ORDERFLEET_GATEWAY_MAX_HEADER_BYTES": "8192",
                     "ORDERFLEET_GATEWAY_MAX_BODY": str(MAX_BODY),
                     "ORDERFLEET_METRICS_LISTEN": "127.0.0.1:0"})
    api = RUN.port_from_log(gateway, "msg=listening")
    ops = RUN.port_from_log(gateway, "ops endpoint listening")
    wait_for("gateway /readyz 200",
             lambda: http("GET", "http://127.0.0.1:%d/readyz" % api)[0] == 200)
    check("access control: API keys" in log_text(gateway) and "keys=2" in log_text(gateway),
          "the start log does not say API keys are on")

    test_access(api, keys, gateway)
    test_limits(api, ops)

    r401 = metric(ops, "orderfleet_gateway_auth_refused_total", code="401")
    r403 = metric(ops, "orderfleet_gateway_auth_refused_total", code="403")
    cut = metric(ops, "orderfleet_gateway_request_timeouts_total")
    check(r401 is not None and r401 >= 6, "auth_refused_total{code=401} = %s" % r401)
    check(r403 is not None and r403 >= 2, "auth_refused_total{code=403} = %s" % r403)
    check(cut is not None and cut >= 2, "request_timeouts_total = %s" % cut)

    gateway.terminate()
    check(gateway.wait(timeout=30) == 0, "the gateway stopped cleanly")
    text = log_text(gateway)
    for k in (WRITER_KEY, READER_KEY, LATE_KEY):
        check(k not in text, "an API key in the gateway's log")


if __name__ == "__main__":
    if RUN.run_main(main):
        sys.exit(1)
    print("test_gateway_security: all checks passed")

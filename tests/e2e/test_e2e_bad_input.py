#!/usr/bin/python3
"""Issue 8: the bad-input matrix, end to end against real Kafka.

Every entry point gets bad input and must give its documented answer
(docs/bad-input.md is the table; DESIGN.md §4-§5 and docs/decisions.md the
rules):

  kafka   raw records on the orders topic, written by kcat (an independent
          client): malformed, truncated, oversized protobuf, invalid UTF-8,
          no order id, business-rule breakers. Answer: one OrderCompleted on
          the completed topic (REJECTED with a reason naming the field, or
          FULFILLED), or one dead letter with the original key and bytes and
          the orderfleet_* error headers.
  cli     order-producer send (NDJSON on stdin) and place: a per-line error
          naming the line (and column), exit status 65 (64 for bad flags),
          the good lines still sent and answered.
  http    the gateway's POST /v1/orders and GET /v1/orders/{id}: the exact
          status, Content-Type application/problem+json and a detail naming
          what is wrong; business-rule breakers are 201 with REJECTED.

Then the accounting: every record on the orders topic (kcat's, the
producer's, the gateway's) is exactly one outcome (by order id) or one dead
letter (by original partition and offset), none lost, none doubled; a good
order sent last is fulfilled (the worker still works after the bad ones);
each program stops on SIGTERM with status 0, none crashed.

Two cases test gateway limits that arrived with a later change: slow
clients (gateway.request_timeout_ms, set to 3000 here) and huge headers
(gateway.max_header_bytes). Each runs in full only when `order-gateway
--help-config` lists its setting, and is printed as PENDING otherwise; either
way it asserts that the gateway keeps answering others meanwhile. Known
defects in code outside this test are printed as KNOWN DEFECT (see defect()).

Usage: test_e2e_bad_input.py BIN_DIR [LOG_DIR]   (ctest: test_e2e_bad_input,
with ORDERFLEET_E2E_KAFKA_DIR set by the `kafka` fixture)

Every wait is a condition polled against a deadline; nothing sleeps for a
fixed time to let something happen.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import log_text  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
LOGS = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp())
RUN = "badinput-%d-%d" % (os.getpid(), int(time.time()))
T0 = time.monotonic()
TEST_RUN = fleettest.Run(BIN, LOGS, RUN + "-{name}.log")
fail, check, wait_for = TEST_RUN.fail, TEST_RUN.check, TEST_RUN.wait_for

pending = []
defects = []  # known defects outside this test's files, reported; see defect()


def note(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def defect(cond, msg):
    """A known defect in code this test does not own (reported, with the fix
    asked for): printed as KNOWN DEFECT, a failure only with
    ORDERFLEET_BADINPUT_STRICT=1, so that the fix shows as the line going
    away rather than as a red suite meanwhile."""
    if not cond:
        if os.environ.get("ORDERFLEET_BADINPUT_STRICT") == "1":
            fail(msg)
        else:
            defects.append(msg)
            print("KNOWN DEFECT: " + msg, flush=True)
    return cond


# ---- protobuf, by hand (an encoder independent of protobuf-c) -------------

def varint(n):
    n &= (1 << 64) - 1  # negative int32/int64: ten bytes, two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def ld(field, data):
    if isinstance(data, str):
        data = data.encode()
    return tag(field, 2) + varint(len(data)) + data


def vint(field, n):
    return tag(field, 0) + varint(n)


def item(sku, qty, price):
    return ld(3, ld(1, sku) + vint(2, qty) + vint(3, price))


def placed(order_id, customer="c-bad", items=(("BURGER-CLASSIC", 1, 899),), currency="EUR",
           attrs=(), extra=b""):
    """An OrderPlaced; str or bytes for every string field (bytes: as given,
    valid UTF-8 or not)."""
    out = []  # joined once: += on bytes would copy a 40,000-line order 40,000 times
    if order_id is not None:
        out.append(ld(1, order_id))
    if customer is not None:
        out.append(ld(2, customer))
    for sku, qty, price in items:
        out.append(item(sku, qty, price))
    if currency is not None:
        out.append(ld(4, currency))
    out.append(vint(5, int(time.time() * 1000)))
    for k, v in attrs:
        out.append(ld(6, ld(1, k) + ld(2, v)))
    return b"".join(out) + extra


def nested_unknown(depth):
    """Field 99, length-delimited, holding field 99 ... depth levels deep: a
    parser that skips unknown fields reads it in one step; one that recursed
    into it would not."""
    inner = b"x"
    for _ in range(depth):
        inner = ld(99, inner)
    return inner


def read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def completed_fields(buf):
    """{field number: value} of an OrderCompleted (last value wins); length-
    delimited fields stay bytes, so invalid UTF-8 is seen, not hidden."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d in an OrderCompleted" % wire)
        out[field] = v
    return out


STATUS = {1: "FULFILLED", 2: "REJECTED", 3: "FAILED"}


# ---- programs --------------------------------------------------------------

def alive(p):
    return check(p.poll() is None, "%s is no longer running (status %s); log:\n%s" %
                 (p.name, p.returncode, log_text(p)[-3000:]))


# ---- kcat: the independent client ----------------------------------------

BOOT = None
ENV = None
TOPICS = {}


def kcat_produce(value, key=None, headers=(), null=False):
    """One record on the orders topic, its value the bytes given (NULL with
    null): kcat with the value in a file of its own, so any byte goes."""
    if not value:
        # kcat sends nothing for an empty file: an empty or NULL value goes
        # as a line "key<TAB>" on stdin instead.
        cmd = ["kcat", "-P", "-b", BOOT, "-t", TOPICS["orders"], "-K", "\t"]
        for h in headers:
            cmd += ["-H", h]
        r = subprocess.run(cmd + (["-Z"] if null else []), input=key.encode() + b"\t\n",
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("kcat could not produce (%s): %s" % (key, r.stderr.decode()))
        return
    with tempfile.NamedTemporaryFile(dir=LOGS, delete=False) as f:
        f.write(value)
        path = f.name
    cmd = ["kcat", "-P", "-b", BOOT, "-t", TOPICS["orders"], "-X", "message.max.bytes=2000000"]
    if key is not None:
        cmd += ["-k", key]
    for h in headers:
        cmd += ["-H", h]
    if null:
        cmd += ["-Z"]
    r = subprocess.run(cmd + [path], capture_output=True, timeout=60)
    os.unlink(path)
    if r.returncode != 0:
        raise AssertionError("kcat could not produce (%s): %s" % (key, r.stderr.decode()))


def kcat_records(topic):
    """Every record of topic: dicts with partition, offset, key (bytes or
    None), value (bytes or None), headers ({name: str}, last wins). Read
    twice: a framed format for exact bytes, -J for the headers."""
    r = subprocess.run(["kcat", "-C", "-b", BOOT, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%p:%o:%K:%S:%k%s"], capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("kcat could not read %s: %s" % (topic, r.stderr.decode()))
    buf, i, recs = r.stdout, 0, {}
    while i < len(buf):
        fields = []
        for _ in range(4):
            j = buf.index(b":", i)
            fields.append(int(buf[i:j]))
            i = j + 1
        part, off, klen, vlen = fields
        key = None
        if klen >= 0:
            key, i = bytes(buf[i:i + klen]), i + klen
        value = None
        if vlen >= 0:
            value, i = bytes(buf[i:i + vlen]), i + vlen
        recs[(part, off)] = {"partition": part, "offset": off, "key": key, "value": value,
                             "headers": {}}
    r = subprocess.run(["kcat", "-C", "-b", BOOT, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-J"], capture_output=True, timeout=60)
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        j = json.loads(line)
        h = j.get("headers") or []
        rec = recs.get((j["partition"], j["offset"]))
        if rec is not None:
            rec["headers"] = dict(zip(h[0::2], h[1::2]))
    return sorted(recs.values(), key=lambda x: (x["partition"], x["offset"]))


def outcomes_by_id():
    """order id -> list of decoded outcomes on the completed topic."""
    out = {}
    for rec in kcat_records(TOPICS["completed"]):
        f = completed_fields(rec["value"] or b"")
        oid = f.get(1, b"").decode("utf-8", "replace")
        out.setdefault(oid, []).append({
            "status": STATUS.get(f.get(2, 0), "UNSPECIFIED"),
            "reason_bytes": f.get(3, b""),
            "total": f.get(7, 0),
            "key": rec["key"],
        })
    return out


def dead_letters_by_key():
    out = {}
    for rec in kcat_records(TOPICS["dlq"]):
        out.setdefault(rec["key"], []).append(rec)
    return out


# ---- HTTP --------------------------------------------------------------------

API = None


def http_req(method, path, body=None, headers=None, timeout=15):
    return fleettest.request(API, method, path, body, headers, timeout)


def raw_http(data, timeout=15, read=True):
    """Sends data as is on a fresh connection; returns (status or None, headers
    text, body bytes) of what came back before the server closed."""
    s = socket.create_connection(("127.0.0.1", API), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all
        if not read:
            return None, "", b""
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
            head, sep, body = got.partition(b"\r\n\r\n")
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            if sep and m and len(body) >= int(m.group(1)):
                break
        head, _, body = got.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.\d (\d{3})", head)
        return (int(m.group(1)) if m else None), head.decode("latin-1"), body
    finally:
        s.close()


GOOD_JSON = {"customerId": "c-http", "currency": "EUR",
             "items": [{"sku": "BURGER-CLASSIC", "quantity": 1, "unitPrice": "899"}]}


def order_json(**kw):
    o = json.loads(json.dumps(GOOD_JSON))
    o.update(kw)
    return o


def item_json(**kw):
    it = dict(GOOD_JSON["items"][0])
    it.update(kw)
    return it


def json_body(o):
    return json.dumps(o).encode()


JSON_CT = {"Content-Type": "application/json", "Prefer": "wait=20"}


# ---- the matrix: raw records on the orders topic ---------------------------
#
# (case, key, value, headers, expected). expected is
#   ("outcome", STATUS, text in the reason)       one OrderCompleted, keyed by order id
#   ("dlq", error class, text in orderfleet_error) one dead letter, original key and bytes

def kafka_cases():
    oid = lambda n: "%s-%s" % (RUN, n)  # noqa: E731
    good = placed(oid("x"))
    big_int = (1 << 62)
    euro = "\u20ac"
    cases = [
        ("garbage bytes", "k-garbage", b"\xff\xfe\xfd\xfc\xfb", (),
         ("dlq", "decode", "malformed protobuf: not a valid OrderPlaced")),
        ("truncated protobuf (cut inside orderId)", "k-truncated", good[:12], (),
         ("dlq", "decode", "malformed protobuf")),
        ("wrong wire type (orderId as a varint)", "k-wiretype",
         vint(1, 42) + placed(None), (), ("dlq", "decode", "malformed protobuf")),
        ("length prefix past the end", "k-overlong",
         tag(2, 2) + varint(1 << 30) + b"abc", (), ("dlq", "decode", "malformed protobuf")),
        ("invalid UTF-8 in customerId", "k-utf8-customer",
         placed(oid("utf8c"), customer=b"c-\xc3\x28"), (),
         ("dlq", "decode", "customer_id: invalid UTF-8")),
        ("UTF-16 surrogate in items[0].sku", "k-utf8-sku",
         placed(oid("utf8s"), items=((b"\xed\xa0\x80", 1, 100),)), (),
         ("dlq", "decode", "items[0].sku: invalid UTF-8")),
        ("invalid UTF-8 in an attribute value", "k-utf8-attr",
         placed(oid("utf8a"), attrs=(("note", b"\xff"),)), (),
         ("dlq", "decode", "attributes[0].value: invalid UTF-8")),
        ("invalid UTF-8 in orderId", "k-utf8-id", placed(b"id-\xc0\xaf"), (),
         ("dlq", "decode", "order_id: invalid UTF-8")),
        ("deep nesting: 20,000 start-group tags (wire type 3)", "k-groups",
         placed(oid("groups")) + tag(20, 3) * 20000 + tag(20, 4) * 20000, (),
         ("dlq", "decode", "malformed protobuf")),
        ("deep nesting: an unknown field 2,000 levels of length-delimited deep", "k-nested",
         placed(oid("nested"), extra=nested_unknown(2000)), (),
         ("outcome", "FULFILLED", "")),
        ("empty value (zero bytes)", "k-empty", b"", (),
         ("dlq", "validation", "orderId is missing")),
        ("NULL value (tombstone)", "k-null", None, (),
         ("dlq", "validation", "orderId is missing")),
        ("no orderId", "k-no-id", placed(None), (),
         ("dlq", "validation", "orderId is missing")),
        ("orderId of 200 bytes", "k-long-id", placed("i" * 200), (),
         ("dlq", "validation", "orderId is longer than 128 bytes")),
        ("zero quantity", oid("qty0"),
         placed(oid("qty0"), items=(("BURGER-CLASSIC", 0, 899),)), (),
         ("outcome", "REJECTED", "items[0].quantity: must be at least 1, got 0")),
        ("negative quantity", oid("qtyneg"),
         placed(oid("qtyneg"), items=(("BURGER-CLASSIC", -5, 899),)), (),
         ("outcome", "REJECTED", "items[0].quantity: must be at least 1, got -5")),
        ("huge quantity (INT32_MAX)", oid("qtybig"),
         placed(oid("qtybig"), items=(("BURGER-CLASSIC", 2147483647, 899),)), (),
         ("outcome", "REJECTED", "items[0].quantity: at most 1000 per line, got 2147483647")),
        ("negative unit price", oid("priceneg"),
         placed(oid("priceneg"), items=(("BURGER-CLASSIC", 1, -1),)), (),
         ("outcome", "REJECTED", "items[0].unitPrice: must not be negative, got -1")),
        ("a line total overflowing int64", oid("ovline"),
         placed(oid("ovline"), items=(("BURGER-CLASSIC", 4, big_int),)), (),
         ("outcome", "REJECTED", "items[0]: the total overflows 64-bit minor units")),
        ("a subtotal overflowing int64", oid("ovsub"),
         placed(oid("ovsub"), items=(("BURGER-CLASSIC", 1, big_int),
                                     ("FRIES-SMALL", 1, big_int))), (),
         ("outcome", "REJECTED", "items[1]: the total overflows 64-bit minor units")),
        ("a tax overflowing int64", oid("ovtax"),
         placed(oid("ovtax"), items=(("BURGER-CLASSIC", 1, 5 * 10**15),)), (),
         ("outcome", "REJECTED", "total: the tax overflows 64-bit minor units")),
        ("unknown currency", oid("curxyz"), placed(oid("curxyz"), currency="XYZ"), (),
         ("outcome", "REJECTED", 'currency: unknown currency "XYZ"')),
        ("unknown currency, 12 bytes of multi-byte characters", oid("cureuro"),
         placed(oid("cureuro"), currency=euro * 4), (),
         ("outcome", "REJECTED", "currency: unknown currency")),
        ("unknown SKU, 300 bytes of multi-byte characters", oid("skulong"),
         placed(oid("skulong"), items=((euro * 100, 1, 100),)), (),
         ("outcome", "REJECTED", "items[0].sku: unknown SKU")),
        ("no currency", oid("curnone"), placed(oid("curnone"), currency=None), (),
         ("outcome", "REJECTED", "currency: is required")),
        ("no customerId", oid("custnone"), placed(oid("custnone"), customer=None), (),
         ("outcome", "REJECTED", "customerId: is required")),
        ("no items", oid("noitems"), placed(oid("noitems"), items=()), (),
         ("outcome", "REJECTED", "items: the order has no items")),
        ("101 lines", oid("lines101"),
         placed(oid("lines101"), items=[("FRIES-SMALL", 1, 299)] * 101), (),
         ("outcome", "REJECTED", "items: too many lines (101, at most 100)")),
        ("40,000 lines (860 KB)", oid("lines40k"),
         placed(oid("lines40k"), items=[("FRIES-SMALL", 1, 299)] * 40000), (),
         ("outcome", "REJECTED", "items: too many lines (40000, at most 100)")),
        ("30,000 attributes", oid("attrs30k"),
         placed(oid("attrs30k"), attrs=[("k%d" % i, "v") for i in range(30000)]), (),
         ("outcome", "FULFILLED", "")),
        ("sold-out SKU", oid("soldout"),
         placed(oid("soldout"), items=(("PIE-APPLE", 1, 299),)), (),
         ("outcome", "REJECTED", "items[0].sku: PIE-APPLE is out of stock")),
        ("very long customerId (500 KB)", oid("longcust"),
         placed(oid("longcust"), customer="c" * 500000), (), ("outcome", "FULFILLED", "")),
        ("unknown fields (numbers 15, 16)", oid("unknownf"),
         placed(oid("unknownf"), extra=vint(15, 7) + ld(16, b"\x00\x01future")), (),
         ("outcome", "FULFILLED", "")),
        ("huge header (100 KB x-junk)", oid("hugehdr"), placed(oid("hugehdr")),
         ("x-junk=" + "j" * 100000,), ("outcome", "FULFILLED", "")),
        ("invalid traceparent", oid("badtrace"), placed(oid("badtrace")),
         ("traceparent=not-a-trace", "tracestate=" + "t" * 5000),
         ("outcome", "FULFILLED", "")),
        ("no key (ordered by the id inside)", None, placed(oid("nokey")), (),
         ("outcome", "FULFILLED", "")),
        ("oversized: 1,048,250 bytes, no orderId (its dead letter outgrows the broker limit)",
         "k-oversized", placed(None, attrs=(("blob", "b" * 1048250),)), (),
         ("dlq", "validation", "orderId is missing", "value dropped")),
    ]
    return cases


def order_id_of(case):
    """The order id an outcome case is answered under (from its value)."""
    f = completed_fields(case[2])  # OrderPlaced's field 1 is the id too
    return f.get(1, b"").decode()


def run_kafka_cases():
    cases = kafka_cases()
    note("kafka: producing %d raw records with kcat" % len(cases))
    for name, key, value, headers, _ in cases:
        kcat_produce(value or b"", key, headers, null=value is None)
    return cases


# ---- the matrix: order-producer send and place ------------------------------

def producer(args, stdin=None, timeout=60):
    r = subprocess.run([os.path.join(BIN, "order-producer")] + args, input=stdin,
                       capture_output=True, env=ENV, timeout=timeout)
    check(r.returncode >= 0, "order-producer %s died of signal %d" % (args[:1], -r.returncode))
    check(b"AddressSanitizer" not in r.stderr and b"runtime error:" not in r.stderr,
          "order-producer %s: sanitizer report:\n%s" % (args[:1], r.stderr.decode()[-3000:]))
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def run_cli_cases():
    """Returns the order ids the producer acknowledged, with the outcome each
    must get: {id: (status, reason text)}."""
    expect = {}
    good = json.dumps(order_json(customerId="c-cli"))
    # (line, expected stderr text for that line or None when the line is sent)
    lines = [
        (good, None),
        ('{"customerId": "c", "items": [', "line 2, column"),
        ("[1, 2, 3]", "line 3:"),
        (json.dumps(order_json(items=[item_json(quantity="two")])),
         "line 4: items[0].quantity"),
        ('{"customerId":"a","customerId":"b","currency":"EUR","items":[]}',
         "line 5, column"),
        (b'{"customerId":"c-\xff","currency":"EUR","items":[]}', "line 6, column"),
        (json.dumps(dict(order_json(), custmerId="typo")), "line 7: custmerId"),
        ('{"attributes":' + "[" * 3000 + "]" * 3000 + "}", "line 8"),
        (json.dumps(order_json(items=[item_json(quantity=3000000000)])),
         "line 9: items[0].quantity"),
        (json.dumps(order_json(items=[item_json(unitPrice="99999999999999999999")])),
         "line 10: items[0].unitPrice"),
        (json.dumps(order_json(customerId="x" * (1024 * 1024 + 10))),
         "line 11: longer than 1048576 bytes"),
        ("   ", None),  # blank: skipped silently
        (json.dumps(order_json(orderId="o" * 200)), "line 13: orderId"),
        (json.dumps(order_json(items=[item_json(quantity=0)])), None),  # sent: REJECTED
        (json.dumps(order_json(currency="XYZ")), None),                 # sent: REJECTED
        ("{}", None),                                                   # sent: REJECTED
        (good, None),
    ]
    data = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l, _ in lines)
    note("cli: order-producer send, %d lines" % len(lines))
    rc, out, err = producer(["send", "--log-format", "logfmt"], stdin=data)
    check(rc == 65, "send with bad lines: exit %d, expected 65 (some input invalid)\n%s" %
          (rc, err[-2000:]))
    for n, (_, text) in enumerate(lines, 1):
        if text is None:
            check(not re.search(r"\bline %d\b" % n, err),
                  "send: line %d is good but was reported:\n%s" % (n, err[-2000:]))
        else:
            check(text in err, "send: line %d: expected %r on stderr, got:\n%s" %
                  (n, text, err[-3000:]))
    ids = [l for l in out.split() if l]
    sent = [l for l, t in lines if t is None and l.strip()]
    check(len(ids) == len(sent), "send: %d ids printed for %d good lines: %r" %
          (len(ids), len(sent), ids))
    if len(ids) == len(sent):
        want = [("FULFILLED", ""), ("REJECTED", "items[0].quantity: must be at least 1"),
                ("REJECTED", "currency: unknown currency"), ("REJECTED", "customerId: is required"),
                ("FULFILLED", "")]
        # ids are printed as acknowledged, not in input order: each id must
        # get one of these, and together exactly these (checked at the end).
        for i in ids:
            expect[i] = ("send", want)
    # place: a bad JSON argument, bad flags, an order id too long; a good one.
    rc, out, err = producer(["place", '{"customerId": "c", "items": [}'])
    check(rc == 65 and "invalid order: line 1, column" in err,
          "place with malformed JSON: exit %d, stderr %r" % (rc, err[-500:]))
    rc, out, err = producer(["place", json.dumps(order_json(items=[item_json(quantity=-1.5)]))])
    check(rc == 65 and "items[0].quantity" in err,
          "place with a fractional quantity: exit %d, stderr %r" % (rc, err[-500:]))
    rc, out, err = producer(["place", "--customer", "c", "--item", "BURGER-CLASSIC:lots"])
    check(rc == 64 and "--item" in err, "place --item SKU:lots: exit %d, stderr %r" %
          (rc, err[-500:]))
    rc, out, err = producer(["place", "--customer", "c", "--item", "BURGER-CLASSIC:1",
                             "--order-id", "o" * 200])
    check(rc in (64, 65) and "order" in err.lower() and "128" in err,
          "place --order-id of 200 bytes: exit %d, stderr %r" % (rc, err[-500:]))
    rc, out, err = producer(["place", json.dumps(order_json(
        items=[item_json(quantity=2000)]))])
    check(rc == 0 and out.strip(), "place of a business-rule breaker: exit %d, %r" %
          (rc, err[-500:]))
    if out.strip():
        expect[out.strip()] = ("place", [("REJECTED", "items[0].quantity: at most 1000 per line")])
    return expect


# ---- the matrix: the gateway's HTTP API ------------------------------------

def problem_check(name, status, headers, body, want_status, slug, detail_has, extra=None):
    """A problem+json answer: status, type, Content-Type, detail, members."""
    if not check(status == want_status, "http %s: status %s, expected %d; body %r" %
                 (name, status, want_status, body[:300])):
        return None
    ctype = headers.get("content-type", "")
    check(ctype.startswith("application/problem+json"),
          "http %s: Content-Type %r, expected application/problem+json" % (name, ctype))
    try:
        p = json.loads(body)
    except ValueError:
        fail("http %s: the body is not JSON: %r" % (name, body[:300]))
        return None
    check(p.get("type") == "urn:orderfleet:problem:" + slug,
          "http %s: type %r, expected %s" % (name, p.get("type"), slug))
    check(p.get("status") == want_status, "http %s: status member %r" % (name, p.get("status")))
    for text in ([detail_has] if isinstance(detail_has, str) else detail_has):
        check(text in p.get("detail", ""), "http %s: detail %r does not name %r" %
              (name, p.get("detail"), text))
    if extra:
        extra(p)
    return p


def syntax_at(line, column):
    def f(p):
        check(p.get("line") == line and p.get("column") == column,
              "malformed-json at line %r column %r, expected %d:%d (%s)" %
              (p.get("line"), p.get("column"), line, column, p.get("detail")))
    return f


def field_error(field):
    def f(p):
        fields = [e.get("field") for e in p.get("errors", [])]
        check(field in fields, "invalid-order errors %r do not name %r" % (fields, field))
        check(p.get("errorCount", 0) >= 1, "invalid-order errorCount %r" % p.get("errorCount"))
    return f


def run_http_cases(gateway_settings):
    """Returns {order id: [(status, reason text)]} of the orders the gateway
    placed (they are accounted for with the rest)."""
    expect = {}
    deep = "[" * 5000 + "]" * 5000
    problems = [
        # name, method, path, headers, body, status, slug, detail text, extra check
        ("malformed JSON", "POST", "/v1/orders", JSON_CT, b'{\n  "customerId": "c",\n  oops}',
         400, "malformed-json", "line 3, column 6", syntax_at(3, 6)),
        ("empty body", "POST", "/v1/orders", JSON_CT, b"", 400, "malformed-json",
         "not valid JSON", None),
        ("not an object", "POST", "/v1/orders", JSON_CT, b"[1,2]", 400, "invalid-order",
         "object", None),
        ("wrong type: quantity a string", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(items=[item_json(quantity="two")])), 400, "invalid-order",
         "items[0].quantity", field_error("items[0].quantity")),
        ("wrong type: items an object", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(items={"sku": "X"})), 400, "invalid-order", "items",
         field_error("items")),
        ("quantity beyond int32", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(items=[item_json(quantity=3000000000)])), 400, "invalid-order",
         "items[0].quantity", field_error("items[0].quantity")),
        ("unitPrice beyond int64", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(items=[item_json(unitPrice="99999999999999999999")])), 400,
         "invalid-order", "items[0].unitPrice", field_error("items[0].unitPrice")),
        ("unitPrice fractional", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(items=[item_json(unitPrice=8.99)])), 400,
         "invalid-order", "items[0].unitPrice", field_error("items[0].unitPrice")),
        ("unknown field", "POST", "/v1/orders", JSON_CT,
         json_body(dict(order_json(), custmerId="typo")), 400, "invalid-order", "custmerId",
         None),
        ("duplicated key", "POST", "/v1/orders", JSON_CT,
         b'{"customerId":"a","customerId":"b","currency":"EUR","items":[]}', 400,
         "malformed-json", "duplicate", None),
        ("deep nesting (5000 levels)", "POST", "/v1/orders", JSON_CT,
         ('{"attributes":' + deep + "}").encode(), 400, "malformed-json", "line 1, column",
         None),
        ("invalid UTF-8 in a string", "POST", "/v1/orders", JSON_CT,
         b'{"customerId":"c-\xc3\x28","currency":"EUR","items":[]}', 400, "malformed-json",
         "line 1, column", None),
        ("NUL escaped in a string", "POST", "/v1/orders", JSON_CT,
         b'{"customerId":"c\\u0000d","currency":"EUR","items":[]}', 400, "malformed-json",
         "line 1, column", None),
        ("orderId with a slash", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(orderId="a/b")), 400, "invalid-order", "orderId",
         field_error("orderId")),
        ("orderId of 200 characters", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(orderId="o" * 200)), 400, "invalid-order", "orderId",
         field_error("orderId")),
        ("media type text/plain", "POST", "/v1/orders", {"Content-Type": "text/plain"},
         json_body(GOOD_JSON), 415, "unsupported-media-type", "text/plain", None),
        ("no media type", "POST", "/v1/orders", {}, json_body(GOOD_JSON), 415,
         "unsupported-media-type", "absent", None),
        ("media type application/jsonx", "POST", "/v1/orders",
         {"Content-Type": "application/jsonx"}, json_body(GOOD_JSON), 415,
         "unsupported-media-type", "application/jsonx", None),
        ("body over gateway.max_body (70 KB)", "POST", "/v1/orders", JSON_CT,
         json_body(order_json(customerId="x" * 70000)), 413, "body-too-large", "65536", None),
        ("Idempotency-Key of 300 characters", "POST", "/v1/orders",
         dict(JSON_CT, **{"Idempotency-Key": "k" * 300}), json_body(GOOD_JSON), 400,
         "invalid-idempotency-key", "Idempotency-Key", None),
        ("GET an id of 200 characters", "GET", "/v1/orders/" + "o" * 200, {}, None, 404,
         "unknown-order", "ids are 1 to 128 characters", None),
        ("GET an id with bytes not UTF-8", "GET", "/v1/orders/%FF%FE", {}, None, 404,
         "unknown-order", 'no order has the id "%FF%FE"', None),
        ("GET an unknown id", "GET", "/v1/orders/%s-never" % RUN, {}, None, 404,
         "unknown-order", "%s-never" % RUN, None),
        ("PUT /v1/orders", "PUT", "/v1/orders", JSON_CT, json_body(GOOD_JSON), 405,
         "method-not-allowed", "PUT", None),
        ("POST /v1/orders/{id}", "POST", "/v1/orders/x", JSON_CT, json_body(GOOD_JSON), 405,
         "method-not-allowed", "POST", None),
        ("unknown path", "GET", "/v2/orders", {}, None, 404, "not-found", "/v2/orders", None),
    ]
    note("http: %d problem cases" % len(problems))
    for name, method, path, headers, body, status, slug, detail, extra in problems:
        st, hd, data = http_req(method, path, body, headers)
        problem_check(name, st, hd, data, status, slug, detail, extra)

    # A body far beyond the limit, by Content-Length: answered unread.
    st, head, data = raw_http(b"POST /v1/orders HTTP/1.1\r\nHost: t\r\nContent-Type: "
                              b"application/json\r\nContent-Length: 50000000\r\n\r\n{")
    problem_check("Content-Length of 50 MB", st, {"content-type": ct_of(head)}, data, 413,
                  "body-too-large", "50000000", None)
    # A body shorter than its Content-Length, then the client goes away.
    raw_http(b"POST /v1/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Content-Length: 1000\r\n\r\n{\"customerId\":", read=False)

    # Broken HTTP framing is refused by libmicrohttpd before the gateway sees a
    # request: its own 400 (an HTML page) or a closed connection. Checked:
    # the status, and that the gateway goes on.
    for name, data, statuses in (
            ("a request line that is not HTTP", b"GARBAGE\r\n\r\n", (None, 400)),
            ("chunked encoding with a bad chunk size",
             b"POST /v1/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", (400,)),
            ("a Content-Length that is not a number",
             b"POST /v1/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Content-Length: abc\r\n\r\n{}", (400,))):
        st, head, body = raw_http(data)
        check(st in statuses, "http %s: answered %s, expected %s" % (name, st, statuses))
        served_meanwhile("after " + name)

    # Prefer values that make no sense are ignored or capped, never an error.
    for prefer in ("wait=abc", "wait=-5", "wait=99999999999999999999", "respond-async=maybe"):
        st, hd, data = http_req("POST", "/v1/orders", json_body(GOOD_JSON),
                                {"Content-Type": "application/json", "Prefer": prefer},
                                timeout=90)
        if check(st in (201, 202), "http Prefer: %s: status %s %r" % (prefer, st, data[:200])):
            o = json.loads(data)
            expect[o.get("orderId")] = ("Prefer: " + prefer, [("FULFILLED", "")])

    # Business rules are answers, not errors: 201 with the REJECTED outcome.
    euro = "\u20ac"
    answered = [
        ("zero quantity", order_json(items=[item_json(quantity=0)]),
         "items[0].quantity: must be at least 1, got 0"),
        ("negative quantity", order_json(items=[item_json(quantity=-3)]),
         "items[0].quantity: must be at least 1, got -3"),
        ("huge quantity", order_json(items=[item_json(quantity=2147483647)]),
         "items[0].quantity: at most 1000 per line"),
        ("price overflowing the total", order_json(items=[item_json(
            quantity=1000, unitPrice=str(2**62))]), "the total overflows 64-bit minor units"),
        ("unknown currency", order_json(currency="XYZ"), 'currency: unknown currency "XYZ"'),
        ("unknown currency of multi-byte characters", order_json(currency=euro * 4),
         "currency: unknown currency"),
        ("unknown SKU of multi-byte characters", order_json(items=[item_json(sku=euro * 30)]),
         "items[0].sku: unknown SKU"),
        ("empty object", {}, "customerId: is required"),
        ("very long customerId (60 KB)", order_json(customerId="c" * 60000), None),
    ]
    note("http: %d business-rule cases" % len(answered))
    for name, order, reason in answered:
        st, hd, data = http_req("POST", "/v1/orders", json_body(order), JSON_CT, timeout=30)
        if not check(st == 201, "http %s: status %s, expected 201; %r" % (name, st, data[:300])):
            continue
        check(hd.get("content-type", "").startswith("application/json"),
              "http %s: Content-Type %r" % (name, hd.get("content-type")))
        o = json.loads(data)
        want = "ORDER_STATUS_FULFILLED" if reason is None else "ORDER_STATUS_REJECTED"
        check(o.get("status") == want, "http %s: status %r, expected %s" %
              (name, o.get("status"), want))
        if reason:
            check(reason in o.get("reason", ""), "http %s: reason %r does not say %r" %
                  (name, o.get("reason"), reason))
        expect[o.get("orderId")] = (name, [(want[len("ORDER_STATUS_"):], reason or "")])
        st, hd, data = http_req("GET", "/v1/orders/" + o.get("orderId", "x"))
        check(st == 200 and json.loads(data).get("status") == want,
              "http GET after %s: %s %r" % (name, st, data[:200]))
    run_http_limits(gateway_settings)
    return expect


def ct_of(head):
    m = re.search(r"(?im)^content-type:\s*(.+?)\s*$", head)
    return m.group(1) if m else ""


def served_meanwhile(what):
    """A good request answered promptly while something else goes on."""
    t = time.monotonic()
    st, _, data = http_req("GET", "/v1/orders/%s-never" % RUN, timeout=5)
    check(st == 404 and time.monotonic() - t < 2,
          "GET while %s: %s after %.1f s" % (what, st, time.monotonic() - t))


def run_http_limits(settings):
    # Huge headers: one of 100 KB, and 300 of 1 KB.
    header_limit = re.search(r"gateway\.\S*header", settings)
    for name, hdrs in (("one 100 KB header", b"X-Junk: " + b"j" * 100000 + b"\r\n"),
                       ("300 headers of 1 KB", b"".join(b"X-J%d: %s\r\n" % (i, b"j" * 1000)
                                                        for i in range(300)))):
        st, head, data = raw_http(b"GET /v1/orders/x HTTP/1.1\r\nHost: t\r\n" + hdrs + b"\r\n")
        check(st is None or 400 <= st < 500, "%s: answered %s" % (name, st))
        if header_limit:
            # 431 by the setting; the body is libmicrohttpd's own HTML page
            # today, where DESIGN §5 wants problem+json (reported).
            check(st == 431, "http %s: status %s, expected 431" % (name, st))
            defect(ct_of(head).startswith("application/problem+json"),
                   "http %s: 431 with Content-Type %r and body %r, expected "
                   "application/problem+json" % (name, ct_of(head), data[:80]))
        else:
            pending.append("huge headers (%s): answered %s %r, not 431 problem+json "
                           "(no header limit setting yet)" % (name, st, ct_of(head)))
        served_meanwhile("after " + name)

    # Slow clients: 20 connections sending their headers a byte at a time.
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", API), timeout=10)
        s.sendall(b"POST /v1/orders HTTP/1.1\r\nHost: t\r\n")
        slow.append(s)
    started = time.monotonic()
    timeout_setting = "gateway.request_timeout_ms" in settings
    # With the setting (3000 ms here) every one must be cut off by about then;
    # without it, two seconds of trickling show that others are still served.
    deadline = started + (8.0 if timeout_setting else 2.0)
    still, answers = list(slow), []
    while still and time.monotonic() < deadline:
        for s in list(still):
            try:
                s.sendall(b"X")
                s.setblocking(False)
                got = s.recv(65536)
            except BlockingIOError:
                continue  # open, nothing said: still trickling
            except OSError:
                got = b""
            still.remove(s)
            if got:
                answers.append(got)
        served_meanwhile("%d slow clients trickle" % len(still))
        time.sleep(0.25)  # the trickle's pace (a slow client), not a wait for a condition
    if timeout_setting:
        check(not still, "slow clients: %d of %d not cut off after %.1f s "
              "(gateway.request_timeout_ms=3000)" % (len(still), len(slow),
                                                     time.monotonic() - started))
        for got in answers:
            head, _, body = got.partition(b"\r\n\r\n")
            head = head.decode("latin-1")
            st = int(head[9:12]) if head.startswith("HTTP/1.1 ") else None
            problem_check("slow client", st, {"content-type": ct_of(head)}, body, 408,
                          "request-timeout", "", None)
            break
    else:
        pending.append("slow clients: not cut off (no gateway.request_timeout_ms yet); the "
                       "gateway served others meanwhile")
    for s in slow:
        s.close()


# ---- the accounting ----------------------------------------------------------

def account(kafka, cli_expect, http_expect):
    """Every record on the orders topic is exactly one outcome or one dead
    letter; each case's answer is the documented one."""
    orders = kcat_records(TOPICS["orders"])
    outcomes = outcomes_by_id()
    dlq = dead_letters_by_key()
    dlq_at = {}
    for recs in dlq.values():
        for r in recs:
            h = r["headers"]
            at = (h.get("orderfleet_original_partition"), h.get("orderfleet_original_offset"))
            dlq_at.setdefault(at, []).append(r)
    note("accounting: %d input records, %d outcomes, %d dead letters" %
         (len(orders), sum(len(v) for v in outcomes.values()), len(dlq_at)))

    # 1. Each input record: exactly one answer, none lost, none doubled.
    answered_ids = set()
    for rec in orders:
        at = (str(rec["partition"]), str(rec["offset"]))
        letters = dlq_at.get(at, [])
        oid = completed_fields(rec["value"] or b"").get(1, b"") if letters == [] else None
        outs = outcomes.get(oid.decode("utf-8", "replace"), []) if oid else []
        where = "input record %s[%s]@%s key %r" % (TOPICS["orders"], at[0], at[1], rec["key"])
        check(len(letters) + len(outs) >= 1, where + ": no outcome and no dead letter (lost)")
        check(len(letters) <= 1, where + ": %d dead letters" % len(letters))
        check(len(outs) <= 1, where + ": %d outcomes for order %r" % (len(outs), oid))
        if letters:
            r = letters[0]
            dropped = r["headers"].get("orderfleet_value_dropped")
            check(r["key"] == rec["key"] and
                  (r["value"] == rec["value"] if dropped is None else
                   not r["value"] and dropped == str(len(rec["value"] or b""))),
                  where + ": the dead letter's key or value differs from the input's")
            check(r["headers"].get("orderfleet_original_topic") == TOPICS["orders"],
                  where + ": orderfleet_original_topic %r" %
                  r["headers"].get("orderfleet_original_topic"))
        if outs:
            answered_ids.add(oid.decode())
            reason = outs[0]["reason_bytes"]
            try:
                reason.decode("utf-8")
            except UnicodeDecodeError:
                fail(where + ": the outcome's reason is not valid UTF-8: %r" % reason)

    # 2. Each raw case: its documented answer.
    for name, key, value, headers, want in kafka:
        kind = want[0]
        if kind == "dlq":
            letters = dlq.get(key.encode() if key else None, [])
            if not check(len(letters) == 1, "kafka %s: %d dead letters under key %r, expected 1"
                         % (name, len(letters), key)):
                continue
            r = letters[0]
            h = r["headers"]
            check(h.get("orderfleet_error_class") == want[1],
                  "kafka %s: orderfleet_error_class %r, expected %r" %
                  (name, h.get("orderfleet_error_class"), want[1]))
            check(want[2] in h.get("orderfleet_error", ""),
                  "kafka %s: orderfleet_error %r does not say %r" %
                  (name, h.get("orderfleet_error"), want[2]))
            for hn in ("orderfleet_original_partition", "orderfleet_original_offset"):
                check(re.fullmatch(r"\d+", h.get(hn, "")), "kafka %s: %s %r" %
                      (name, hn, h.get(hn)))
            check(("orderfleet_value_dropped" in h) == (len(want) > 3),
                  "kafka %s: orderfleet_value_dropped %r" %
                  (name, h.get("orderfleet_value_dropped")))
            if "orderfleet_value_dropped" in h:
                check(r["value"] in (None, b"") and
                      h["orderfleet_value_dropped"] == str(len(value or b"")),
                      "kafka %s: value dropped, orderfleet_value_dropped %r" %
                      (name, h["orderfleet_value_dropped"]))
            else:
                check(r["value"] == value or (value is None and r["value"] is None),
                      "kafka %s: the dead letter's value is not the original bytes" % name)
            for hn, hv in (x.split("=", 1) for x in headers):
                check(h.get(hn) == hv, "kafka %s: input header %s not kept" % (name, hn))
        else:
            oid = order_id_of((name, key, value))
            outs = outcomes.get(oid, [])
            if not check(len(outs) == 1, "kafka %s: %d outcomes for %s, expected 1" %
                         (name, len(outs), oid)):
                continue
            o = outs[0]
            reason = o["reason_bytes"].decode("utf-8", "replace")
            check(o["status"] == want[1] and want[2] in reason,
                  "kafka %s: %s %r, expected %s %r" % (name, o["status"], reason, want[1],
                                                       want[2]))
            check(o["key"] == oid.encode(), "kafka %s: outcome key %r" % (name, o["key"]))

    # 3. The producer's and the gateway's orders: one outcome each, as expected.
    send_seen = []
    for origin, expect in (("cli", cli_expect), ("http", http_expect)):
        for oid, (case, choices) in expect.items():
            outs = outcomes.get(oid, [])
            if not check(len(outs) == 1, "%s %s: order %s has %d outcomes, expected 1" %
                         (origin, case, oid, len(outs))):
                continue
            reason = outs[0]["reason_bytes"].decode("utf-8", "replace")
            ok = [c for c in choices if c[0] == outs[0]["status"] and c[1] in reason]
            check(ok, "%s %s: order %s is %s %r, expected one of %r" %
                  (origin, case, oid, outs[0]["status"], reason, choices))
            if ok and case == "send":
                send_seen.append(ok[0])
    if send_seen:
        want = next(c for case, c in cli_expect.values() if case == "send")
        check(sorted(send_seen) == sorted(want), "cli send: the good lines' outcomes are %r, "
              "expected %r" % (sorted(send_seen), sorted(want)))


# ---- main ------------------------------------------------------------------

def stop_all():
    fleettest.terminate(TEST_RUN.procs)
    for p in TEST_RUN.procs:
        rc = TEST_RUN.wait_stopped(p, 60)
        if rc is None:
            continue
        check(rc == 0, "%s exited with %s after SIGTERM (negative: a signal); log tail:\n%s" %
              (p.name, rc, log_text(p)[-3000:]))
        check("AddressSanitizer" not in log_text(p) and "runtime error:" not in log_text(p),
              "%s: sanitizer report in its log" % p.name)


def main():
    global BOOT, ENV, API
    setup = subprocess.run([os.path.join(BIN, "e2e_topics"), RUN], capture_output=True,
                           text=True, timeout=120)
    env_lines = re.findall(r"(?m)^(ORDERFLEET_[A-Z_]+)=(.*)$", setup.stdout)
    if setup.returncode != 0 or len(env_lines) < 7:
        sys.exit("test_e2e_bad_input: creating topics failed:\n%s%s" %
                 (setup.stdout, setup.stderr))
    ENV = dict(os.environ)
    ENV.update(env_lines)
    BOOT = ENV["ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS"]
    for short, var in (("orders", "ORDERS"), ("completed", "COMPLETED"), ("dlq", "DLQ")):
        TOPICS[short] = ENV["ORDERFLEET_TOPICS_" + var]
    note("topics %s.* on %s" % (RUN, BOOT))

    settings = subprocess.run([os.path.join(BIN, "order-gateway"), "--help-config"],
                              capture_output=True, text=True, env=ENV).stdout
    common = dict(ENV, ORDERFLEET_METRICS_LISTEN="127.0.0.1:0")
    worker = TEST_RUN.start("worker", ["order-worker"], common, stdout=subprocess.DEVNULL)
    gw_env = dict(common, ORDERFLEET_GATEWAY_WAIT_MS="20000")
    if "gateway.request_timeout_ms" in settings:
        gw_env["ORDERFLEET_GATEWAY_REQUEST_TIMEOUT_MS"] = "3000"
    gateway = TEST_RUN.start("gateway", ["order-gateway", "-l", "127.0.0.1:0"], gw_env,
                             stdout=subprocess.DEVNULL)
    wport = TEST_RUN.port_from_log(worker, "ops endpoint listening")
    gport = TEST_RUN.port_from_log(gateway, "ops endpoint listening")
    API = TEST_RUN.port_from_log(gateway, "msg=listening")

    def ready(port):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            return c.getresponse().status == 200
        except OSError:
            return False
    wait_for("worker /readyz", lambda: ready(wport) or (alive(worker) and False), timeout=60)
    wait_for("gateway /readyz", lambda: ready(gport) or (alive(gateway) and False), timeout=60)
    note("worker and gateway ready")

    try:
        kafka = run_kafka_cases()
        cli_expect = run_cli_cases()
        http_expect = run_http_cases(settings)
        alive(worker)
        alive(gateway)

        # Liveness: a good order sent last, by kcat, answered FULFILLED.
        last = "%s-last" % RUN
        kcat_produce(placed(last), last)
        note("waiting for the last good order's outcome")
        wait_for("the outcome of the order sent last",
                 lambda: outcomes_by_id().get(last) or (alive(worker) and None), timeout=60)
        check(outcomes_by_id()[last][0]["status"] == "FULFILLED", "the last good order")
        kafka.append(("liveness: a good order sent last", last, placed(last), (),
                      ("outcome", "FULFILLED", "")))

        # Everything answered (dead letters and outcomes are published before
        # their offsets commit, so wait for the count, bounded).
        def all_answered():
            n_in = len(kcat_records(TOPICS["orders"]))
            n_out = sum(len(v) for v in outcomes_by_id().values())
            n_dlq = len(kcat_records(TOPICS["dlq"]))
            return n_out + n_dlq >= n_in or (alive(worker) and None)
        wait_for("an answer for every input record", all_answered, timeout=60, interval=0.5)
    finally:
        note("stopping the programs with SIGTERM")
        stop_all()
    account(kafka, cli_expect, http_expect)

    note("done in %.0f s" % (time.monotonic() - T0))
    for p in pending:
        print("PENDING (feature not there yet): " + p, flush=True)
    for d in defects:
        print("KNOWN DEFECT (reported, outside this test): " + d, flush=True)
    if TEST_RUN.failures:
        print("\n%d failure(s); logs in %s (%s-*.log)" % (len(TEST_RUN.failures), LOGS, RUN))
        return 1
    print("test_e2e_bad_input: all cases answered as documented")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("FAIL: %s" % e, flush=True)
        TEST_RUN.kill_all()
        sys.exit(1)

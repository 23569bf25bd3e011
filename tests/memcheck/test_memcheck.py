#!/usr/bin/python3
"""The demo path under valgrind memcheck: every orderfleet program of it runs
under memcheck, and each must exit cleanly with 0 errors and no definite
leaks.

  order-devbroker                  the embedded broker
  order-worker                     one worker
  order-producer send              3 orders from an NDJSON file
  order-producer send --wait       1 order from stdin, waiting for its reply
  order-gateway                    one POST /v1/orders, waiting for the outcome

Every program runs as
  valgrind --tool=memcheck --error-exitcode=99 --errors-for-leak-kinds=definite
           --leak-check=full --suppressions=tests/valgrind.supp
so a memory error or a definite leak makes its exit status 99; the test also
reads each valgrind log ("ERROR SUMMARY: 0 errors", "definitely lost: 0
bytes" or no leak at all) so that the failure names the program and shows
the report.

Usage: test_memcheck.py BIN_DIR SOURCE_DIR [LOG_DIR]  (ctest: test_memcheck)
Exits 77 (skipped) when valgrind is not installed (deploy/packages-bench.txt
has it). Waits are conditions polled against deadlines; ports are chosen by
the programs (port 0) and read from their logs.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import log_text  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
SRC = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else ".")
LOGS = os.path.abspath(sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp())
SUPP = os.path.join(SRC, "tests", "valgrind.supp")
WAIT = 90.0  # seconds for anything to happen under valgrind (20-50x slower)
RUN = fleettest.Run(BIN, LOGS, "memcheck-{name}.log", timeout=WAIT, interval=0.1)
fail, wait_for = RUN.fail, RUN.wait_for


def start(name, args, stdin=None, stdout=subprocess.PIPE):
    """Starts BIN/args[0] under valgrind memcheck, its report in p.vlog."""
    vlog = os.path.join(LOGS, "memcheck-%s.valgrind.log" % name)
    p = RUN.start(name, args, stdin=stdin, stdout=stdout,
                  prefix=["valgrind", "--tool=memcheck", "--error-exitcode=99",
                          "--errors-for-leak-kinds=definite", "--leak-check=full",
                          "--track-origins=no", "--num-callers=30", "--suppressions=" + SUPP,
                          "--log-file=" + vlog])
    p.vlog = vlog
    return p


def check_valgrind(p, want_status=0):
    """p has exited: its status, and its valgrind report."""
    try:
        with open(p.vlog) as f:
            report = f.read()
    except OSError as e:
        fail("%s: no valgrind log: %s" % (p.name, e))
        return
    problems = []
    if p.returncode != want_status:
        problems.append("exit status %s, want %s%s" % (
            p.returncode, want_status, " (valgrind found errors)" if p.returncode == 99 else ""))
    m = re.search(r"ERROR SUMMARY: (\d+) errors", report)
    if not m or m.group(1) != "0":
        problems.append("ERROR SUMMARY: %s errors" % (m.group(1) if m else "?"))
    m = re.search(r"definitely lost: ([\d,]+) bytes", report)
    if m and m.group(1) != "0":
        problems.append("definitely lost: %s bytes" % m.group(1))
    if not m and "All heap blocks were freed" not in report \
            and "no leaks are possible" not in report:
        problems.append("no leak summary (did valgrind finish?)")
    if problems:
        fail("%s: %s; valgrind log %s:\n%s\nprogram log:\n%s" % (
            p.name, "; ".join(problems), p.vlog, report[-6000:], log_text(p)[-3000:]))
    else:
        print("ok: %s exited %s, 0 errors, no definite leaks" % (p.name, p.returncode),
              flush=True)


def order(customer, sku, qty):
    return json.dumps({"customerId": customer, "currency": "EUR",
                       "items": [{"sku": sku, "quantity": qty, "unitPrice": "899"}]})


def main():
    if shutil.which("valgrind") is None:
        print("test_memcheck: valgrind is not installed: skipped "
              "(deploy/install-deps.sh deploy/packages-bench.txt)")
        return 77
    t0 = time.monotonic()

    broker = start("devbroker", ["order-devbroker"])
    brokers = wait_for("order-devbroker's bootstrap list",
                       lambda: broker.stdout.readline().strip() or broker.poll() is not None)
    if broker.poll() is not None:
        raise AssertionError("order-devbroker exited: " + log_text(broker))
    print("brokers: %s (%.0f s)" % (brokers, time.monotonic() - t0), flush=True)

    worker = start("worker", ["order-worker", "-b", brokers, "--id", "memcheck-worker"])
    RUN.wait_log(worker, r'msg="partitions assigned"')
    print("worker assigned (%.0f s)" % (time.monotonic() - t0), flush=True)

    ndjson = os.path.join(LOGS, "memcheck-orders.ndjson")
    with open(ndjson, "w") as f:
        for i in range(3):
            f.write(order("c-%d" % i, "BURGER-CLASSIC", i + 1) + "\n")
    send = start("send", ["order-producer", "send", "-b", brokers, ndjson])
    out, _ = send.communicate(timeout=WAIT)
    ids = [line for line in out.splitlines() if line.strip()]
    if len(ids) != 3:
        fail("send: %d ids printed, want 3: %r" % (len(ids), out))
    check_valgrind(send)

    wait = start("send-wait", ["order-producer", "send", "--wait", "-b", brokers, "-"],
                 stdin=subprocess.PIPE)
    out, _ = wait.communicate(order("c-wait", "FRIES-LARGE", 1) + "\n", timeout=WAIT)
    if "FULFILLED" not in out:
        fail("send --wait: no FULFILLED outcome in %r" % out)
    check_valgrind(wait)

    gateway = start("gateway", ["order-gateway", "-b", brokers, "-l", "127.0.0.1:0"])
    port = int(RUN.wait_log(gateway, r"msg=ready port=(\d+)").group(1))

    def post():
        status, _, body = fleettest.http(
            "POST", "http://127.0.0.1:%d/v1/orders" % port,
            order("c-http", "BURGER-CLASSIC", 2).encode(),
            {"Content-Type": "application/json", "Prefer": "wait=60"}, timeout=WAIT)
        return status, body

    # The gateway may log ready before its producer has a broker connection
    # (slow under valgrind); it then answers 503 kafka-unavailable, "the
    # order was not placed", which a client retries.
    answer = []

    def placed():
        status, body = post()
        answer[:] = [status, body]
        return not (status == 503 and "kafka-unavailable" in body)
    wait_for("the gateway to reach Kafka", placed, interval=0.5)
    status, body = answer
    if status != 201 or "ORDER_STATUS_FULFILLED" not in body:
        fail("POST /v1/orders: %d %s, want 201 with a FULFILLED outcome" % (status, body))
    print("POST answered %d (%.0f s)" % (status, time.monotonic() - t0), flush=True)

    for p in (gateway, worker, broker):
        fleettest.terminate([p])
        RUN.wait_stopped(p, WAIT)
        check_valgrind(p)
    print("test_memcheck: %.0f s" % (time.monotonic() - t0), flush=True)
    return 1 if RUN.failures else 0


if __name__ == "__main__":
    try:
        rc = main()
    except AssertionError as e:
        fail(str(e))
        rc = 1
    finally:
        RUN.kill_all()
    if RUN.failures:
        print("test_memcheck: %d failure(s); logs in %s" % (len(RUN.failures), LOGS))
    sys.exit(rc)

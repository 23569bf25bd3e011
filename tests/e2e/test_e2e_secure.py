#!/usr/bin/python3
"""The fleet against a real Kafka with TLS and SASL/SCRAM-SHA-512, by
configuration alone (docs/security.md):

- its own broker: deploy/kafka-local.sh start --secure on free ports (a CA
  and a server certificate made by openssl, users admin and orderfleet),
  stopped at the end; not the shared `kafka` fixture;
- order-worker reads its password from a file (kafka.sasl_password_file in
  its config file), order-producer and order-gateway from the environment
  (ORDERFLEET_KAFKA_SASL_PASSWORD); orders go through end to end: producer
  send, producer place --wait, gateway POST (201 with the outcome);
- a wrong password: order-producer exits non-zero within a deadline, with
  an error naming authentication (not a hang);
- kcat, the independent client, reads the outcomes over SASL_SSL;
- no log line of any program holds the password.

Usage: test_e2e_secure.py BIN_DIR LOG_DIR KAFKA_LOCAL_SH KAFKA_DIR   (ctest: test_e2e_secure)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fleettest  # noqa: E402
from fleettest import clean_env, text_of  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
KAFKA_LOCAL = os.path.abspath(sys.argv[3])
KAFKA_DIR = os.path.abspath(sys.argv[4])
RUN = fleettest.Run(BIN, sys.argv[2], "secure-{name}-{pid}.log", env=clean_env(),
                    timeout=60.0, interval=0.1)
check, wait_for, start = RUN.check, RUN.wait_for, RUN.start
SENT = 20


def http(method, url, body=None, headers=None):
    """(status, body) of one request; (None, "") when the connection fails."""
    try:
        status, _, text = fleettest.http(method, url, body, headers, timeout=30)
        return status, text
    except OSError:
        return None, ""


def run(name, args, env, stdin=None, timeout=90):
    """Runs a program to its end; returns (exit status, stdout, stderr)."""
    log = RUN.log_file(name)
    try:
        r = subprocess.run([os.path.join(BIN, args[0])] + args[1:], input=stdin,
                           stdout=subprocess.PIPE, stderr=log, env=env, text=True,
                           timeout=timeout)
        code, out = r.returncode, r.stdout
    except subprocess.TimeoutExpired:
        code, out = None, ""
    log.close()
    all_logs.append(log.name)
    return code, out, text_of(log.name)


all_logs = []


def order(i):
    return {"customerId": "sec-%d" % i, "currency": "EUR",
            "items": [{"sku": "BURGER-CLASSIC", "quantity": 1}]}


def main():
    t_start = time.monotonic()
    r = subprocess.run([KAFKA_LOCAL, "start", "--secure", "--dir", KAFKA_DIR],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, "kafka-local.sh start --secure failed:\n" + r.stderr[-3000:]
    bootstrap = r.stdout.strip().splitlines()[-1]
    check("TLS CA:" in r.stderr and "client properties:" in r.stderr,
          "kafka-local.sh did not name the CA and the client properties:\n" + r.stderr)
    env_file = dict(l.split("=", 1) for l in text_of(os.path.join(KAFKA_DIR, "secure.env"))
                    .splitlines() if "=" in l)
    ca, pw_file = env_file["KAFKA_LOCAL_CA"], env_file["KAFKA_LOCAL_PASSWORD_FILE"]
    kcat_props = env_file["KAFKA_LOCAL_LIBRDKAFKA_PROPERTIES"]
    password = text_of(pw_file).strip()
    assert len(password) >= 16, "no password in " + pw_file
    print("secure Kafka at %s after %.1f s" % (bootstrap, time.monotonic() - t_start), flush=True)

    # The listener takes no plaintext client.
    r = subprocess.run(["kcat", "-b", bootstrap, "-L", "-m", "5"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode != 0, "a plaintext client got metadata from the SASL_SSL listener")

    # The worker: everything in its config file, the password from a file.
    tmp = tempfile.mkdtemp()
    worker_cfg = os.path.join(tmp, "worker.cfg")
    with open(worker_cfg, "w") as f:
        f.write('kafka = {\n'
                '    bootstrap_servers = "%s";\n'
                '    security_protocol = "sasl_ssl";\n'
                '    sasl_mechanisms = "SCRAM-SHA-512";\n'
                '    sasl_username = "orderfleet";\n'
                '    sasl_password_file = "%s";\n'
                '    ssl_ca_location = "%s";\n'
                '};\n' % (bootstrap, pw_file, ca))
    common = {"ORDERFLEET_METRICS_LISTEN": "127.0.0.1:0"}
    # -v and librdkafka's conf and security debug logs: the password must
    # still appear in no line.
    worker = start("worker", ["order-worker", "-c", worker_cfg, "-v", "-X",
                              "debug=conf,security"], clean_env(common))
    # The producer and the gateway: all in the environment, password too.
    kenv = clean_env({"ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                      "ORDERFLEET_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                      "ORDERFLEET_KAFKA_SASL_MECHANISMS": "SCRAM-SHA-512",
                      "ORDERFLEET_KAFKA_SASL_USERNAME": "orderfleet",
                      "ORDERFLEET_KAFKA_SASL_PASSWORD": password,
                      "ORDERFLEET_KAFKA_SSL_CA_LOCATION": ca})
    gateway = start("gateway", ["order-gateway", "-l", "127.0.0.1:0", "-v"],
                    dict(kenv, **common))
    wport = RUN.port_from_log(worker, "ops endpoint listening")
    api = RUN.port_from_log(gateway, "msg=listening")
    wait_for("the worker's /readyz", lambda: http(
        "GET", "http://127.0.0.1:%d/readyz" % wport)[0] == 200, timeout=90)
    wait_for("the gateway's /readyz", lambda: http(
        "GET", "http://127.0.0.1:%d/readyz" % api)[0] == 200, timeout=90)

    # A wrong password: a clear error, a non-zero exit, no hang (the order
    # fails at its message timeout, 10 s here instead of librdkafka's 30 s).
    t0 = time.monotonic()
    code, out, err = run("producer-wrong", ["order-producer", "place", "--customer", "c-x",
                                            "--item", "BURGER-CLASSIC:1"],
                         dict(kenv, ORDERFLEET_KAFKA_SASL_PASSWORD="wrong-" + password[:4],
                              ORDERFLEET_KAFKA_MESSAGE_TIMEOUT_MS="10000"),
                         timeout=120)
    check(code is not None and code != 0 and time.monotonic() - t0 < 60,
          "wrong password: exit %s after %.1f s" % (code, time.monotonic() - t0))
    check(re.search(r"[Aa]uthenticat", err) is not None,
          "wrong password: no error naming authentication:\n" + err[-2000:])

    # Orders by the producer (send, and place --wait) and the gateway.
    ndjson = "".join(json.dumps(order(i)) + "\n" for i in range(SENT))
    code, out, err = run("producer-send", ["order-producer", "send", "--json"], kenv,
                         stdin=ndjson)
    check(code == 0, "producer send: exit %s:\n%s" % (code, err[-2000:]))
    ids = [json.loads(l)["orderId"] for l in out.splitlines() if l.strip()]
    check(len(ids) == SENT, "producer send acknowledged %d of %d" % (len(ids), SENT))
    code, out, err = run("producer-wait", ["order-producer", "place", "--wait", "--customer",
                                           "c-w", "--item", "BURGER-CLASSIC:2"], kenv)
    check(code == 0 and "FULFILLED" in out,
          "producer place --wait: exit %s, %r:\n%s" % (code, out, err[-2000:]))
    if out.split():
        ids.append(out.split()[0])
    status, text = http("POST", "http://127.0.0.1:%d/v1/orders" % api,
                        json.dumps(order(99)).encode(), {"Content-Type": "application/json",
                                                        "Prefer": "wait=30"})
    check(status == 201 and "ORDER_STATUS_FULFILLED" in text,
          "gateway POST: %s %s" % (status, text))
    if status == 201:
        ids.append(json.loads(text)["orderId"])

    # kcat reads every outcome over SASL_SSL.
    def outcomes():
        r = subprocess.run(["kcat", "-F", kcat_props, "-b", bootstrap, "-C", "-t",
                            "orders.completed", "-o", "beginning", "-e", "-q", "-f", "%k\n"],
                           capture_output=True, text=True, timeout=60)
        keys = set(r.stdout.split())
        return all(i in keys for i in ids) and keys
    wait_for("kcat to read the %d outcomes over SASL_SSL" % len(ids), outcomes, timeout=60)

    for p in (gateway, worker):
        p.terminate()
        check(p.wait(timeout=60) == 0, p.name + " did not stop cleanly")
    for path in [p.log.name for p in RUN.procs] + all_logs:
        check(password not in text_of(path), "the password is in " + path)
    print("end to end over SASL_SSL in %.1f s" % (time.monotonic() - t_start), flush=True)


if __name__ == "__main__":
    if RUN.run_main(main, cleanup=lambda: subprocess.run(
            [KAFKA_LOCAL, "stop", "--dir", KAFKA_DIR], capture_output=True, timeout=120)):
        sys.exit(1)
    print("test_e2e_secure: all checks passed")

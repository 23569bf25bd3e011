"""Helpers shared by the Python test drivers (tests/ops, tests/integration,
tests/e2e, tests/memcheck): a Run holds the programs a driver started, its
failures, its log and bin directories; the functions poll conditions against a
deadline, read the programs' logs and speak HTTP.

A driver imports it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import fleettest
"""
from http.client import HTTPConnection
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request


class Run:
    """One test run: started programs (procs), failures, log and bin directories."""

    def __init__(self, bin_dir, log_dir, log_name, env=None, timeout=30.0, interval=0.05):
        """log_name has {name}, {pid}; env: programs' base (None: os.environ); waits' defaults."""
        self.bin = os.path.abspath(bin_dir)
        self.logs = os.path.abspath(log_dir)
        os.makedirs(self.logs, exist_ok=True)
        self.log_name = log_name
        self.env = env
        self.timeout = timeout
        self.interval = interval
        self.procs = []
        self.failures = []

    def fail(self, msg):
        """Records a failure and prints it."""
        self.failures.append(msg)
        print("FAIL: " + msg, flush=True)

    def check(self, cond, msg):
        """A failure msg unless cond; returns cond."""
        if not cond:
            self.fail(msg)
        return cond

    def wait_for(self, what, fn, timeout=None, interval=None):
        """fn() until it returns something truthy, or raise after timeout."""
        timeout = self.timeout if timeout is None else timeout
        interval = self.interval if interval is None else interval
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what)
            time.sleep(interval)  # polling a condition, bounded by the deadline

    def log_file(self, name):
        """A new log file in the log directory, named by log_name, open for writing."""
        return open(os.path.join(self.logs, self.log_name.format(name=name, pid=os.getpid())),
                    "w+")

    def start(self, name, args, env=None, stdin=None, stdout=subprocess.PIPE, prefix=()):
        """Starts prefix + BIN/args[0] + args[1:] with env added, stderr to its log file."""
        log = self.log_file(name)
        e = dict(os.environ if self.env is None else self.env)
        e.update(env or {})
        p = subprocess.Popen(list(prefix) + [os.path.join(self.bin, args[0])] + args[1:],
                             stdin=stdin, stdout=stdout, stderr=log, env=e, text=True)
        p.log = log
        p.name = name
        self.procs.append(p)
        return p

    def start_devbroker(self):
        """Starts order-devbroker; returns it and the bootstrap servers it printed."""
        broker = self.start("devbroker", ["order-devbroker"])
        bootstrap = broker.stdout.readline().strip()
        assert bootstrap, "order-devbroker printed no bootstrap servers:\n" + log_text(broker)
        return broker, bootstrap

    def wait_in_log(self, p, what, find, exited=""):
        """find(p's log text) until truthy; raises (exited in the message) if p exits first."""
        def poll():
            v = find(log_text(p))
            if v:
                return v
            if p.poll() is not None:
                raise AssertionError("%s exited with %s%s:\n%s"
                                     % (p.name, p.returncode, exited, log_text(p)))
            return None
        return self.wait_for("%s to log %r" % (p.name, what), poll)

    def wait_log(self, p, pattern):
        """The first match of regex pattern in p's log, waiting for it."""
        return self.wait_in_log(p, pattern, lambda text: re.search(pattern, text),
                                " before logging %r" % pattern)

    def port_from_log(self, p, msg):
        """The port= (logfmt) or "port": (JSON) of p's first log line with msg, waiting for it."""
        def find(text):
            for line in text.splitlines():
                if msg not in line:
                    continue
                m = re.search(r'"port":(\d+)', line) or re.search(r"\bport=(\d+)", line)
                if m:
                    return int(m.group(1))
            return None
        return self.wait_in_log(p, msg, find)

    def wait_stopped(self, p, timeout):
        """p's exit status within timeout, or None after killing it (a failure)."""
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail("%s did not stop within %.0f s of SIGTERM" % (p.name, timeout))
            return None

    def stop_all(self, timeout=30):
        """Each program still running, last started first: SIGTERM, SIGKILL after timeout."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    p.kill()

    def kill_all(self):
        """SIGKILL to each program still running, and its end waited for."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def print_log_tails(self, lines):
        """The last lines of every program's log."""
        for p in self.procs:
            print("---- last lines of %s ----" % p.name)
            print("\n".join(log_text(p).splitlines()[-lines:]))

    def run_main(self, main, tail_lines=20, cleanup=None):
        """main(), stop_all(), cleanup(); 1 and the log tails on failures (or AssertionError)."""
        try:
            main()
        except AssertionError as e:
            self.fail(str(e))
        finally:
            self.stop_all()
            if cleanup:
                cleanup()
        if self.failures:
            self.print_log_tails(tail_lines)
            return 1
        return 0


def text_of(path):
    """The text of a file (bytes that are not UTF-8 replaced)."""
    with open(path, errors="replace") as f:
        return f.read()


def log_text(p):
    """The text of a started program's log so far."""
    return text_of(p.log.name)


def terminate(procs):
    """SIGTERM to each of procs still running."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)


def clean_env(extra=None):
    """os.environ without the ORDERFLEET_* variables, with extra added."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLEET_")}
    e.update(extra or {})
    return e


def http(method, url, body=None, headers=None, timeout=10, decode=True):
    """(status, headers, body: str, or bytes unless decode) of one urllib request."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, h, data = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, h, data = e.code, dict(e.headers), e.read()
    return status, h, data.decode() if decode else data


def request(port, method, path, body=None, headers=None, timeout=10):
    """(status, lower-cased headers, body bytes) of one http.client request to 127.0.0.1."""
    c = HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()

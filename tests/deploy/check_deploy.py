#!/usr/bin/python3
"""Checks that the deployment artifacts cannot drift from the programs.

    /usr/bin/python3 tests/deploy/check_deploy.py BIN_DIR

BIN_DIR holds the built order-* programs (build/bin). Everything is checked
against the real programs and files, nothing against copies kept here:

- `docker-compose config -q` (or `docker compose config -q`) accepts
  docker-compose.yml, every profile included;
- every ORDERFLEET_* variable a container gets (the Dockerfile's ENV, the
  compose service's environment, the k8s ConfigMap and env) is in its program's
  `--help-config` or is ORDERFLEET_KAFKA_<property>, and the container's whole
  command line with exactly that environment passes `--check-config`; so do the
  `docker compose run` lines of the README;
- every flag in a command (compose command/entrypoint, k8s command/args, the
  README's `order-*` and `docker compose` lines) is in that program's --help;
- probes are /healthz and /readyz on the port ORDERFLEET_METRICS_LISTEN names,
  container and published ports match ORDERFLEET_GATEWAY_LISTEN and
  ORDERFLEET_METRICS_LISTEN, Prometheus scrapes those ports;
- the grace periods exceed worker.drain_timeout_ms;
- KEDA's trigger names the worker's group, orders topic and bootstrap servers,
  and maxReplicaCount is the orders topic's partitions; kafka-init creates the
  topics the programs use;
- the Dockerfile builds with deploy/install-deps.sh, deploy/build.sh and
  deploy/runtime-packages.sh, and its HEALTHCHECK, run against a stub server,
  asks /healthz on the metrics port and fails on a 503;
- deploy/runtime-packages.sh lists packages apt knows (librdkafka's runtime
  among them) and fails on a library no package owns.

Exit status: 0 all passed; 1 a check failed (each failure is printed with
what is wrong); 77 all other checks passed but neither docker-compose nor
`docker compose` is installed, so the compose file was not validated; 64 usage.
"""

import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAMS = ("order-worker", "order-gateway", "order-producer", "order-devbroker")
IMAGE_DEFAULT_CMD = "order-worker"  # deploy/Dockerfile's CMD, itself checked below
RUN_TIMEOUT = 60

failures = []


def ok(msg):
    print(f"ok - {msg}")


def fail(msg):
    failures.append(msg)
    print(f"FAIL - {msg}")


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(f"{msg}{': ' + detail if detail else ''}")
    return cond


def run(argv, env=None, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL):
    """Runs argv and returns (status, stdout, stderr); a missing program is status 127."""
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=stdin)
        return p.returncode, p.stdout, p.stderr
    except FileNotFoundError as e:
        return 127, "", str(e)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s"


def clean_env(extra):
    """The environment a container has: PATH and its variables, nothing of ours."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    env.update(extra)
    return env


def port_of(listen):
    """"0.0.0.0:9100" -> 9100; None when listen is not host:port."""
    m = re.fullmatch(r".*:(\d+)", listen or "")
    return int(m.group(1)) if m else None


def flags_in(text):
    """Every -x and --long-flag spelled in a help text."""
    return set(re.findall(r"(?<![\w/.-])(--?[A-Za-z][\w-]*)", text))


def flag_name(token):
    """"--count=5" -> "--count"; "-Xfoo=bar" -> "-X"; "--" and non-flags -> None."""
    if not token.startswith("-") or token in ("-", "--") or re.match(r"-\d", token):
        return None
    if token.startswith("--"):
        return token.split("=", 1)[0]
    return token[:2]


# --------------------------------------------------------------------------
# The programs: their settings, defaults and flags
# --------------------------------------------------------------------------

class Program:
    def __init__(self, bin_dir, name):
        self.name = name
        self.path = os.path.join(bin_dir, name)
        self.env_vars = {}  # ORDERFLEET_X -> default as printed
        self.flags = set()
        status, out, err = run([self.path, "--help-config"], env=clean_env({}))
        if status != 0:
            raise RuntimeError(f"{self.path} --help-config exited {status}: {err.strip()}")
        for line in out.splitlines()[1:]:
            cols = line.split(None, 3)
            if len(cols) >= 3 and cols[1].startswith("ORDERFLEET_") and "<" not in cols[1]:
                self.env_vars[cols[1]] = cols[2].strip('"')
        status, out, err = run([self.path, "--help"], env=clean_env({}))
        if status != 0:
            raise RuntimeError(f"{self.path} --help exited {status}: {err.strip()}")
        self.flags = flags_in(out)

    def default(self, var):
        return self.env_vars.get(var)


def check_env_vars(prog, env, where):
    bad = [k for k in sorted(env) if k.startswith("ORDERFLEET_") and
           not k.startswith("ORDERFLEET_KAFKA_") and k not in prog.env_vars]
    check(not bad, f"{where}: every ORDERFLEET_* variable is a setting of {prog.name}",
          f"not in `{prog.name} --help-config`: {', '.join(bad)}")


def check_flags(prog, args, where):
    bad = [a for a in args if flag_name(a) and flag_name(a) not in prog.flags]
    check(not bad, f"{where}: every flag is in `{prog.name} --help`",
          f"unknown: {', '.join(bad)}")


def check_config(prog, args, env, where):
    """Runs the program as the container would, plus --check-config."""
    argv = [prog.path] + list(args) + ["--check-config"]
    status, out, err = run(argv, env=clean_env(env))
    want = f"{prog.name}: configuration valid"
    check(status == 0 and want in err,
          f"{where}: `{prog.name} {' '.join(args)}` with its environment passes --check-config",
          f"exit {status}, stderr: {err.strip()[:400]}")


# --------------------------------------------------------------------------
# The Dockerfile
# --------------------------------------------------------------------------

def dockerfile_instructions(path):
    """[(INSTRUCTION, rest)] with continuation lines joined and comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for line in f:
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


class StubHandler(http.server.BaseHTTPRequestHandler):
    code = 200
    paths = []

    def do_GET(self):
        StubHandler.paths.append(self.path)
        self.send_response(StubHandler.code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def check_dockerfile():
    path = os.path.join(ROOT, "deploy", "Dockerfile")
    ins = dockerfile_instructions(path)
    runs = " ".join(r for i, r in ins if i == "RUN")
    for script in ("deploy/install-deps.sh", "deploy/build.sh", "deploy/runtime-packages.sh"):
        check(script in runs, f"Dockerfile: a RUN line calls {script} (the script CI uses)")
    froms = [r for i, r in ins if i == "FROM"]
    args = dict(re.findall(r"^(\w+)=(\S+)", r)[0] for i, r in ins if i == "ARG" and "=" in r)
    check(len(froms) >= 2 and all(f.split()[0] == "${BASE}" for f in froms) and
          args.get("BASE") == "debian:bookworm-slim",
          "Dockerfile: every stage is FROM ${BASE}, ARG BASE=debian:bookworm-slim",
          f"FROM {froms}, ARG {args}")
    env = {}
    for i, r in ins:
        if i == "ENV":
            for k, v in re.findall(r"(\w+)=(\S+)", r):
                env[k] = v
    metrics_port = port_of(env.get("ORDERFLEET_METRICS_LISTEN"))
    check(metrics_port == 9100, "Dockerfile: ENV ORDERFLEET_METRICS_LISTEN is on port 9100",
          f"got {env.get('ORDERFLEET_METRICS_LISTEN')}")
    exposed = {int(p.split("/")[0]) for i, r in ins if i == "EXPOSE" for p in r.split()}
    check(exposed == {8080, 9100}, "Dockerfile: EXPOSE 8080 9100", f"got {sorted(exposed)}")
    users = [r for i, r in ins if i == "USER"]
    check(users and users[-1].split(":")[0] == "10001", "Dockerfile: runs as uid 10001",
          f"USER {users}")
    cmds = [r for i, r in ins if i == "CMD"]
    check(cmds and json.loads(cmds[-1]) == [IMAGE_DEFAULT_CMD],
          f"Dockerfile: the default CMD is {IMAGE_DEFAULT_CMD}", f"CMD {cmds}")

    hc = [r for i, r in ins if i == "HEALTHCHECK"]
    m = re.search(r"\bCMD\s+(\[.*\])\s*$", hc[-1]) if hc else None
    if not check(m is not None, "Dockerfile: a HEALTHCHECK in exec form", f"{hc}"):
        return env
    argv = json.loads(m.group(1))
    check("/healthz" in m.group(1), "Dockerfile: the HEALTHCHECK names /healthz")
    # Run it against a stub on a free port, given as the container would.
    server = http.server.HTTPServer(("127.0.0.1", 0), StubHandler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        listen = {"ORDERFLEET_METRICS_LISTEN": f"0.0.0.0:{server.server_port}"}
        StubHandler.code, StubHandler.paths = 200, []
        status, _, err = run(argv, env=clean_env(listen), timeout=10)
        check(status == 0 and StubHandler.paths == ["/healthz"],
              "Dockerfile: the HEALTHCHECK passes on a 200 from /healthz of the metrics port",
              f"exit {status}, requests {StubHandler.paths}, stderr {err.strip()}")
        StubHandler.code, StubHandler.paths = 503, []
        status, _, _ = run(argv, env=clean_env(listen), timeout=10)
        check(status != 0 and StubHandler.paths == ["/healthz"],
              "Dockerfile: the HEALTHCHECK fails on a 503", f"exit {status}")
    finally:
        server.shutdown()
        server.server_close()
    # Nothing listening: unhealthy, not hanging.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    status, _, _ = run(argv, env=clean_env({"ORDERFLEET_METRICS_LISTEN": f"0.0.0.0:{free}"}),
                       timeout=10)
    check(status not in (0, 124), "Dockerfile: the HEALTHCHECK fails when nothing listens",
          f"exit {status}")
    return {k: v for k, v in env.items() if k.startswith("ORDERFLEET_")}


# --------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------

def compose_command():
    """The compose CLI as an argv prefix, or None."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and run(["docker", "compose", "version"])[0] == 0:
        return ["docker", "compose"]
    return None


def compose_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def as_list(v):
    if v is None:
        return []
    return shlex.split(v) if isinstance(v, str) else [str(x) for x in v]


def runs_our_image(service):
    build = service.get("build") or {}
    dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
    return (str(service.get("image", "")).startswith("orderfleet") or
            os.path.normpath(dockerfile) == os.path.join("deploy", "Dockerfile"))


def compose_argv(service):
    """The full command line a compose service runs, from its entrypoint and command
    (our image's CMD when it has neither)."""
    entry, cmd = as_list(service.get("entrypoint")), as_list(service.get("command"))
    if entry:
        return entry + cmd
    if not cmd and runs_our_image(service):
        return [IMAGE_DEFAULT_CMD]
    return cmd


def duration_s(v):
    """Compose durations: "45s", "1m30s", "500ms", or a number of seconds."""
    if isinstance(v, (int, float)):
        return float(v)
    total, rest = 0.0, str(v)
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", rest):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


def published(service):
    """[(host_port, container_port)] of a service's ports (short syntax)."""
    out = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            out.append((int(p.get("published", 0) or 0), int(p["target"])))
            continue
        parts = str(p).split("/")[0].split(":")
        out.append((int(parts[-2]) if len(parts) >= 2 else 0, int(parts[-1])))
    return out


def check_compose(programs, image_env, compose):
    path = os.path.join(ROOT, "docker-compose.yml")
    skipped = False
    if compose is None:
        print("SKIP - neither docker-compose nor `docker compose` is installed: "
              "docker-compose.yml was not validated by Compose (install docker-compose)")
        skipped = True
    else:
        for profiles in ([], ["--profile", "tools", "--profile", "monitoring"]):
            status, _, err = run(compose + ["-f", path] + profiles + ["config", "-q"])
            check(status == 0, f"`{' '.join(compose)} {' '.join(profiles)} config -q` accepts "
                  "docker-compose.yml", err.strip())

    with open(path) as f:
        doc = yaml.safe_load(f)
    services = doc["services"]
    for name in ("kafka", "kafka-init", "worker", "gateway", "producer", "prometheus"):
        check(name in services, f"compose: service {name}")
    worker, gateway = services["worker"], services["gateway"]
    ours = {}
    for name, svc in services.items():
        argv = compose_argv(svc)
        prog = os.path.basename(argv[0]) if argv else ""
        if runs_our_image(svc) or prog in programs:
            ours[name] = (prog, argv[1:])
    check(set(ours) == {"worker", "gateway", "producer"},
          "compose: worker, gateway and producer run orderfleet programs", f"{ours}")

    for name, (prog_name, args) in sorted(ours.items()):
        if not check(prog_name in programs, f"compose {name}: runs a known program",
                     prog_name):
            continue
        prog = programs[prog_name]
        env = dict(image_env)
        env.update(compose_env(services[name]))
        check_env_vars(prog, env, f"compose {name}")
        check_flags(prog, args, f"compose {name} command")
        if args == ["--help"]:
            status, _, err = run([prog.path, "--help"], env=clean_env(env))
            check(status == 0, f"compose {name}: `{prog_name} --help` runs", err.strip())
        else:
            check_config(prog, args, env, f"compose {name}")

    # Replicas, grace, ports.
    wenv = dict(image_env, **compose_env(worker))
    genv = dict(image_env, **compose_env(gateway))
    w = programs["order-worker"]
    drain_ms = int(wenv.get("ORDERFLEET_WORKER_DRAIN_TIMEOUT_MS",
                            w.default("ORDERFLEET_WORKER_DRAIN_TIMEOUT_MS") or 0))
    check(drain_ms > 0, "compose worker: worker.drain_timeout_ms is known", str(drain_ms))
    grace = duration_s(worker.get("stop_grace_period", "10s"))
    check(grace > drain_ms / 1000, "compose worker: stop_grace_period exceeds the drain timeout",
          f"{grace} s <= {drain_ms} ms")
    check((worker.get("deploy") or {}).get("replicas") == 3, "compose worker: deploy.replicas 3")
    check(not worker.get("ports") and "container_name" not in worker,
          "compose worker: no fixed host ports or container_name (replicas must not clash)")
    check(port_of(wenv.get("ORDERFLEET_METRICS_LISTEN")) is not None,
          "compose worker: ORDERFLEET_METRICS_LISTEN is host:port")
    gport = port_of(genv.get("ORDERFLEET_GATEWAY_LISTEN"))
    gmetrics = port_of(genv.get("ORDERFLEET_METRICS_LISTEN"))
    pub = published(gateway)
    check(gport is not None and any(c == gport for _, c in pub),
          "compose gateway: the published container port is ORDERFLEET_GATEWAY_LISTEN's",
          f"listen port {gport}, ports {pub}")
    check(all(not (c == gmetrics and h == gmetrics) for h, c in pub),
          "compose gateway: the metrics port is not published on the same host port",
          f"{pub}")
    for name in ("producer",):
        check("tools" in (services[name].get("profiles") or []),
              f"compose {name}: under the tools profile (not started by `up`)")
    check("monitoring" in (services["prometheus"].get("profiles") or []),
          "compose prometheus: under the monitoring profile")
    for name in ("worker", "gateway", "producer"):
        dep = (services[name].get("depends_on") or {})
        cond = dep.get("kafka-init", {}).get("condition") if isinstance(dep, dict) else None
        check(cond == "service_completed_successfully",
              f"compose {name}: waits for kafka-init to complete")
    kdep = services["kafka-init"].get("depends_on") or {}
    check(isinstance(kdep, dict) and kdep.get("kafka", {}).get("condition") == "service_healthy",
          "compose kafka-init: waits for a healthy kafka")
    test = (services["kafka"].get("healthcheck") or {}).get("test")
    check(test and "/opt/kafka/bin/" in " ".join(as_list(test)),
          "compose kafka: health check with the image's own /opt/kafka/bin scripts")

    # kafka-init creates the topics the programs use, orders with its partitions.
    script = " ".join(as_list(services["kafka-init"].get("entrypoint")) +
                      as_list(services["kafka-init"].get("command")))
    created = dict(re.findall(r"--topic\s+(\S+)\s+--partitions\s+(\d+)", script))
    for var in ("ORDERFLEET_TOPICS_ORDERS", "ORDERFLEET_TOPICS_COMPLETED",
                "ORDERFLEET_TOPICS_REPLIES", "ORDERFLEET_TOPICS_RETRY", "ORDERFLEET_TOPICS_DLQ"):
        topic = wenv.get(var, w.default(var))
        check(topic in created, f"compose kafka-init: creates {topic} ({var})", f"{created}")
    orders = wenv.get("ORDERFLEET_TOPICS_ORDERS", w.default("ORDERFLEET_TOPICS_ORDERS"))
    parts = wenv.get("ORDERFLEET_TOPICS_ORDERS_PARTITIONS",
                     w.default("ORDERFLEET_TOPICS_ORDERS_PARTITIONS"))
    check(created.get(orders) == parts, f"compose kafka-init: {orders} has {parts} partitions",
          f"{created.get(orders)}")

    # Prometheus scrapes every replica and the gateway on their metrics ports.
    vol = [v for v in services["prometheus"].get("volumes") or []
           if str(v).split(":")[1:2] == ["/etc/prometheus/prometheus.yml"]]
    check(vol and os.path.normpath(os.path.join(ROOT, str(vol[0]).split(":")[0])) ==
          os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml"),
          "compose prometheus: mounts deploy/prometheus/prometheus.yml", f"{vol}")
    with open(os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    dns = [(n, d.get("port")) for j in prom.get("scrape_configs", [])
           for d in j.get("dns_sd_configs") or [] for n in d.get("names", [])]
    static = [t for j in prom.get("scrape_configs", [])
              for s in j.get("static_configs") or [] for t in s.get("targets", [])]
    wmetrics = port_of(wenv.get("ORDERFLEET_METRICS_LISTEN"))
    check(("worker", wmetrics) in dns,
          f"prometheus: every worker replica by DNS (dns_sd_configs worker, port {wmetrics})",
          f"{dns}")
    check(f"gateway:{gmetrics}" in static, f"prometheus: the gateway on gateway:{gmetrics}",
          f"{static}")
    return services, skipped


# --------------------------------------------------------------------------
# deploy/k8s
# --------------------------------------------------------------------------

def load_k8s():
    kdir = os.path.join(ROOT, "deploy", "k8s")
    with open(os.path.join(kdir, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    resources = kust.get("resources", [])
    files = sorted(f for f in os.listdir(kdir)
                   if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml")
    check(sorted(resources) == files, "k8s: kustomization.yaml lists every manifest",
          f"resources {sorted(resources)}, files {files}")
    docs = []
    for r in resources:
        p = os.path.join(kdir, r)
        if not check(os.path.exists(p), f"k8s: resource {r} exists"):
            continue
        with open(p) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    for d in docs:
        if "namespace" in d.get("metadata", {}):
            fail(f"k8s: {d['kind']} {d['metadata']['name']} names a namespace (must be "
                 "namespace-less)")
    if shutil.which("kubectl"):
        status, _, err = run(["kubectl", "kustomize", kdir])
        check(status == 0, "k8s: `kubectl kustomize deploy/k8s` builds", err.strip())
    else:
        print("# kubectl not installed: the kustomization was not built")
    return docs


def find(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind and
            (name is None or d["metadata"]["name"] == name)]


def container_env(c, configmaps):
    env = {}
    for src in c.get("envFrom") or []:
        ref = (src.get("configMapRef") or {}).get("name")
        if ref:
            if not check(ref in configmaps, f"k8s: ConfigMap {ref} exists"):
                continue
            env.update({k: str(v) for k, v in configmaps[ref].items()})
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
    return env


def check_k8s(programs, image_env):
    docs = load_k8s()
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in find(docs, "ConfigMap")}
    check(len(configmaps) >= 1, "k8s: a ConfigMap of ORDERFLEET_* settings")
    for name, data in configmaps.items():
        bad = [k for k in data if not k.startswith("ORDERFLEET_")]
        check(not bad, f"k8s ConfigMap {name}: only ORDERFLEET_* keys", f"{bad}")

    deployments = find(docs, "Deployment")
    by_prog = {}
    for d in deployments:
        spec = d["spec"]["template"]["spec"]
        where = f"k8s Deployment {d['metadata']['name']}"
        for c in spec["containers"]:
            argv = as_list(c.get("command")) + as_list(c.get("args"))
            argv = argv or [IMAGE_DEFAULT_CMD]
            pname = os.path.basename(argv[0])
            if not check(pname in programs, f"{where}: runs a known program", pname):
                continue
            prog = programs[pname]
            env = dict(image_env)
            env.update(container_env(c, configmaps))
            by_prog[pname] = (d, c, env)
            check_env_vars(prog, env, where)
            check_flags(prog, argv[1:], f"{where} command/args")
            check_config(prog, argv[1:], env, where)

            # Probes and ports.
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            mport = port_of(env.get("ORDERFLEET_METRICS_LISTEN"))
            check(ports.get("metrics") == mport,
                  f"{where}: port `metrics` is ORDERFLEET_METRICS_LISTEN's ({mport})", f"{ports}")
            want = {"metrics": mport}
            if pname == "order-gateway":
                want["http"] = port_of(env.get("ORDERFLEET_GATEWAY_LISTEN"))
            check(ports == want, f"{where}: container ports are exactly {want}", f"{ports}")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = (c.get(probe) or {}).get("httpGet") or {}
                port = get.get("port")
                port = ports.get(port, port) if isinstance(port, str) else port
                check(get.get("path") == path and port == mport,
                      f"{where}: {probe} is GET {path} on the metrics port {mport}",
                      f"{get}")
            ann = d["spec"]["template"].get("metadata", {}).get("annotations") or {}
            check(ann.get("prometheus.io/scrape") == "true" and
                  str(ann.get("prometheus.io/port")) == str(mport),
                  f"{where}: Prometheus scrape annotations on port {mport}", f"{ann}")
            res = c.get("resources") or {}
            check(res.get("requests") and res.get("limits"),
                  f"{where}: resource requests and limits")
            sc, psc = c.get("securityContext") or {}, spec.get("securityContext") or {}
            check(psc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True,
                  f"{where}: non-root with a read-only root file system")

    # The worker: grace period, PDB, KEDA.
    if not check("order-worker" in by_prog, "k8s: a Deployment runs order-worker"):
        return docs
    wd, _, wenv = by_prog["order-worker"]
    w = programs["order-worker"]
    drain_ms = int(wenv.get("ORDERFLEET_WORKER_DRAIN_TIMEOUT_MS",
                            w.default("ORDERFLEET_WORKER_DRAIN_TIMEOUT_MS")))
    grace = wd["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    check(grace > drain_ms / 1000,
          "k8s worker: terminationGracePeriodSeconds exceeds worker.drain_timeout_ms",
          f"{grace} s <= {drain_ms} ms")
    check("replicas" not in wd["spec"], "k8s worker: replicas left to KEDA",
          f"replicas: {wd['spec'].get('replicas')}")
    wlabels = wd["spec"]["selector"]["matchLabels"]
    pdbs = [p for p in find(docs, "PodDisruptionBudget")
            if p["spec"]["selector"].get("matchLabels") == wlabels]
    check(len(pdbs) == 1, "k8s worker: a PodDisruptionBudget selects the workers")
    check("order-gateway" in by_prog, "k8s: a Deployment runs order-gateway")

    sos = find(docs, "ScaledObject")
    if not check(len(sos) == 1 and sos[0].get("apiVersion") == "keda.sh/v1alpha1",
                 "k8s: one KEDA ScaledObject (keda.sh/v1alpha1)"):
        return docs
    so = sos[0]["spec"]
    check(so["scaleTargetRef"]["name"] == wd["metadata"]["name"],
          "KEDA: scales the worker Deployment")
    trig = [t for t in so.get("triggers", []) if t.get("type") == "kafka"]
    if not check(len(trig) == 1, "KEDA: one kafka trigger"):
        return docs
    meta = trig[0]["metadata"]
    group = wenv.get("ORDERFLEET_WORKER_GROUP", w.default("ORDERFLEET_WORKER_GROUP"))
    topic = wenv.get("ORDERFLEET_TOPICS_ORDERS", w.default("ORDERFLEET_TOPICS_ORDERS"))
    parts = int(wenv.get("ORDERFLEET_TOPICS_ORDERS_PARTITIONS",
                         w.default("ORDERFLEET_TOPICS_ORDERS_PARTITIONS")))
    check(meta.get("consumerGroup") == group, f"KEDA: consumerGroup is the worker group {group}",
          f"{meta.get('consumerGroup')}")
    check(meta.get("topic") == topic, f"KEDA: topic is the orders topic {topic}",
          f"{meta.get('topic')}")
    check(meta.get("bootstrapServers") == wenv.get("ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS"),
          "KEDA: bootstrapServers are the workers' ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS",
          f"{meta.get('bootstrapServers')} vs {wenv.get('ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS')}")
    check(str(meta.get("lagThreshold", "")).isdigit() and int(meta["lagThreshold"]) > 0,
          "KEDA: a lagThreshold")
    check(so.get("maxReplicaCount") == parts,
          f"KEDA: maxReplicaCount is the orders topic's partitions ({parts})",
          f"{so.get('maxReplicaCount')}")
    check(so.get("minReplicaCount") == 1, "KEDA: minReplicaCount 1")

    if "order-gateway" not in by_prog:
        return docs
    svcs = find(docs, "Service")
    gd, gc, _ = by_prog["order-gateway"]
    gports = {p.get("name") for p in gc.get("ports") or []}
    gsel = gd["spec"]["selector"]["matchLabels"]
    match = [s for s in svcs if s["spec"].get("selector") == gsel]
    check(len(match) == 1 and all(p.get("targetPort") in gports | {None}
                                  for p in match[0]["spec"]["ports"]),
          "k8s gateway: a Service selects it, targeting its named ports")
    return docs


# --------------------------------------------------------------------------
# deploy/runtime-packages.sh
# --------------------------------------------------------------------------

def check_runtime_packages(bin_dir):
    script = os.path.join(ROOT, "deploy", "runtime-packages.sh")
    status, out, err = run([script, bin_dir])
    pkgs = out.split()
    if not check(status == 0 and pkgs, "runtime-packages.sh lists the programs' packages",
                 f"exit {status}: {err.strip()}"):
        return
    check(pkgs == sorted(set(pkgs)), "runtime-packages.sh: sorted, one per line")
    check(any(re.fullmatch(r"librdkafka1(t64)?", p) for p in pkgs),
          "runtime-packages.sh: librdkafka's runtime package is among them", f"{pkgs}")
    status, _, err = run(["apt-cache", "show"] + pkgs)
    check(status == 0, "runtime-packages.sh: apt-cache show knows every package",
          err.strip()[:400])

    # A library that no package owns is an error naming it.
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("# no C compiler: the unowned-library case was not tried")
        return
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "lib.c"), "w") as f:
            f.write("int orderfleet_probe(void) { return 7; }\n")
        with open(os.path.join(tmp, "main.c"), "w") as f:
            f.write("int orderfleet_probe(void);\nint main(void) { return orderfleet_probe(); }\n")
        lib = os.path.join(tmp, "libofprobe.so")
        exe = os.path.join(tmp, "probe")
        s1 = run([cc, "-shared", "-fPIC", "-o", lib, os.path.join(tmp, "lib.c")])
        s2 = run([cc, "-o", exe, os.path.join(tmp, "main.c"), f"-L{tmp}", "-lofprobe",
                  f"-Wl,-rpath,{tmp}"])
        if not check(s1[0] == 0 and s2[0] == 0, "built a program with an unowned library",
                     s1[2] + s2[2]):
            return
        status, out, err = run([script, exe])
        check(status == 1 and "libofprobe.so" in err and "no installed Debian package" in err,
              "runtime-packages.sh fails naming a library that no package owns",
              f"exit {status}, stderr {err.strip()}")


# --------------------------------------------------------------------------
# README: the compose and Kubernetes sections
# --------------------------------------------------------------------------

COMPOSE_GLOBAL_VALUE = {"-f", "--file", "-p", "--project-name", "--profile", "--env-file",
                        "--project-directory", "-c", "--context", "--log-level", "--ansi",
                        "-H", "--host"}
COMPOSE_SUB_VALUE = {
    "run": {"-e", "--env", "-l", "--label", "-u", "--user", "-p", "--publish", "-v",
            "--volume", "-w", "--workdir", "--name", "--entrypoint"},
    "exec": {"-e", "--env", "-u", "--user", "-w", "--workdir", "--index"},
    "up": {"--scale", "-t", "--timeout", "--exit-code-from"},
    "logs": {"--tail", "--since", "--until"},
    "down": {"-t", "--timeout", "--rmi"},
    "stop": {"-t", "--timeout"},
}


def readme_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- deploy:begin -->(.*?)<!-- deploy:end -->", text, re.S)
    if not check(m is not None, "README: the <!-- deploy:begin --> ... <!-- deploy:end --> part"):
        return None
    part = m.group(1)
    for title in ("Local cluster with Docker Compose", "Kubernetes with KEDA"):
        check(re.search(rf"^#+ {re.escape(title)}\s*$", part, re.M) is not None,
              f"README: section \"{title}\"")
    return part


def shell_commands(block):
    """The simple commands of a shell block: lists of words, comments dropped."""
    text = re.sub(r"\\\n", " ", block)
    cmds = []
    for line in text.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        try:
            words = list(lex)
        except ValueError:
            fail(f"README: cannot parse the shell line: {line}")
            continue
        cur = []
        for w in words + [";"]:
            if w and set(w) <= set("|&;()<>"):
                if cur:
                    cmds.append(cur)
                cur = []
            else:
                cur.append(w)
    return cmds


def compose_help_flags(compose, sub):
    if compose is None:
        return None
    status, out, _ = run(compose + ([sub] if sub else []) + ["--help"])
    return flags_in(out) if status == 0 else None


def check_readme(programs, image_env, compose, services, k8s_docs):
    part = readme_section()
    if part is None:
        return
    blocks = re.findall(r"^```(?:sh|bash|console|shell)?\n(.*?)^```", part, re.S | re.M)
    check(blocks, "README: the deploy sections have shell examples")
    profiles = {p for s in services.values() for p in s.get("profiles") or []}
    host_ports = {h for s in services.values() for h, _ in published(s) if h}
    svc_names = {d["metadata"]["name"]: d for d in k8s_docs or [] if d.get("kind") == "Service"}
    help_cache = {}
    n_compose = n_prog = 0
    k8s_at = part.find("Kubernetes with KEDA")
    for block in blocks:
        in_compose = part.find(block) < k8s_at
        for words in shell_commands(block):
            env = {}
            while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
                k, v = words.pop(0).split("=", 1)
                env[k] = v
            if not words:
                continue
            head = os.path.basename(words[0])
            line = " ".join(words)
            if head in programs:
                n_prog += 1
                check_env_vars(programs[head], env, f"README `{line}`")
                check_flags(programs[head], words[1:], f"README `{line}`")
            elif words[:2] == ["docker", "compose"] or head == "docker-compose":
                n_compose += 1
                check_readme_compose(words[2:] if head == "docker" else words[1:], line,
                                     programs, image_env, compose, services, profiles,
                                     help_cache)
            elif head == "curl" and in_compose:
                for port in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", line):
                    check(int(port) in host_ports,
                          f"README `{line}`: port {port} is published by docker-compose.yml",
                          f"published: {sorted(host_ports)}")
            elif head == "kubectl":
                for i, w in enumerate(words):
                    if w in ("-k", "-f") and i + 1 < len(words):
                        check(os.path.exists(os.path.join(ROOT, words[i + 1])),
                              f"README `{line}`: {words[i + 1]} exists")
                    m = re.fullmatch(r"(?:svc|service)/([\w-]+)", w)
                    if m and "port-forward" in words:
                        svc = svc_names.get(m.group(1))
                        fwd = [x for x in words[i + 1:] if re.fullmatch(r"\d+:\d+", x)]
                        sports = {p["port"] for p in (svc or {}).get("spec", {}).get("ports", [])}
                        check(svc is not None and fwd and int(fwd[0].split(":")[1]) in sports,
                              f"README `{line}`: Service {m.group(1)} has that port",
                              f"ports {sorted(sports)}")
    check(n_compose > 0, "README: docker compose commands were found and checked")
    check(n_prog > 0, "README: order-* commands were found and checked")


def check_readme_compose(args, line, programs, image_env, compose, services, profiles, cache):
    i = 0
    while i < len(args) and args[i].startswith("-"):
        f = flag_name(args[i])
        if f == "--profile":
            prof = args[i + 1] if "=" not in args[i] else args[i].split("=", 1)[1]
            check(prof in profiles, f"README `{line}`: profile {prof} exists", f"{profiles}")
        i += 2 if (f in COMPOSE_GLOBAL_VALUE and "=" not in args[i]) else 1
    if i >= len(args):
        return
    sub, rest = args[i], args[i + 1:]
    known = cache.setdefault(sub, compose_help_flags(compose, sub))
    takes = COMPOSE_SUB_VALUE.get(sub, set())
    j, env = 0, {}
    while j < len(rest) and rest[j].startswith("-") and rest[j] != "--":
        f = flag_name(rest[j])
        if known is not None:
            check(f in known, f"README `{line}`: compose {sub} knows {f}")
        if f == "--scale":
            val = rest[j + 1] if "=" not in rest[j] else rest[j].split("=", 1)[1]
            check(val.split("=")[0] in services, f"README `{line}`: --scale names a service")
        if f in ("-e", "--env"):
            k, _, v = rest[j + 1].partition("=")
            env[k] = v
        j += 2 if (f in takes and "=" not in rest[j]) else 1
    if j < len(rest) and rest[j] == "--":
        j += 1
    names = rest[j:]
    if sub in ("run", "exec"):
        if not names:
            fail(f"README `{line}`: no service named")
            return
        svc = names[0]
        if not check(svc in services, f"README `{line}`: service {svc} exists"):
            return
        cmd = names[1:]
        entry = as_list(services[svc].get("entrypoint"))
        argv = entry + cmd if entry else (cmd or compose_argv(services[svc]))
        prog = programs.get(os.path.basename(argv[0])) if argv else None
        if prog:
            full_env = dict(image_env, **compose_env(services[svc]), **env)
            check_env_vars(prog, full_env, f"README `{line}`")
            check_flags(prog, argv[1:], f"README `{line}`")
            if sub == "run":
                check_config(prog, argv[1:], full_env, f"README `{line}`")
    elif sub in ("up", "logs", "stop", "start", "restart", "ps", "top", "pull", "build", "rm"):
        for svc in names:
            check(svc in services, f"README `{line}`: service {svc} exists")


# --------------------------------------------------------------------------

def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print("usage: check_deploy.py BIN_DIR (the built programs, e.g. build/bin)",
              file=sys.stderr)
        return 64
    bin_dir = os.path.abspath(argv[1])
    programs = {}
    for name in PROGRAMS:
        try:
            programs[name] = Program(bin_dir, name)
        except (RuntimeError, OSError) as e:
            fail(f"{name}: {e}")
    if len(programs) != len(PROGRAMS):
        return 1

    # Negative controls: --check-config must be able to say no, or the
    # positive checks below prove nothing.
    w = programs["order-worker"]
    status, _, err = run([w.path, "--check-config"],
                         env=clean_env({"ORDERFLEET_WORKER_CONCURRENCY": "0"}))
    check(status == 78, "--check-config exits 78 on an out-of-range setting",
          f"exit {status}: {err.strip()[:300]}")
    status, _, err = run([w.path, "--check-config"],
                         env=clean_env({"ORDERFLEET_WORKER_CONCURENCY": "8"}))
    check(status == 78, "--check-config exits 78 on a misspelt ORDERFLEET_* variable",
          f"exit {status}: {err.strip()[:300]}")

    image_env = check_dockerfile()
    compose = compose_command()
    services, skipped = check_compose(programs, image_env, compose)
    docs = check_k8s(programs, image_env)
    check_runtime_packages(bin_dir)
    check_readme(programs, image_env, compose, services, docs)

    if failures:
        print(f"\n{len(failures)} check(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    if skipped:
        print("\nSKIP: every other check passed, but docker-compose.yml was not validated "
              "by Compose (neither docker-compose nor `docker compose` is installed)")
        return 77
    print("\nall deployment checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

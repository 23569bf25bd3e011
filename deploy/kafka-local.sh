#!/usr/bin/env bash
# kafka-local.sh: a real Apache Kafka 3.9 (KRaft) on loopback, for tests,
# benchmarks and running the fleet by hand.
#
#   deploy/kafka-local.sh start [--nodes N] [--dir DIR] [--secure]
#                                                         start; last stdout line: bootstrap servers
#   deploy/kafka-local.sh stop [--dir DIR]                stop and remove its data
#   deploy/kafka-local.sh status [--dir DIR]              what runs, and where
#   deploy/kafka-local.sh kill --node I [--dir DIR]       SIGKILL one node (chaos tests)
#   deploy/kafka-local.sh restart --node I [--dir DIR]    start a killed node again, same data
#   deploy/kafka-local.sh topics [--dir DIR]              create the topics named by ORDERFLEET_TOPICS_*
#                                                         on a running instance (a second set, say)
#   deploy/kafka-local.sh fetch                           only download Kafka (cached)
#
# Kafka comes from Maven Central (deploy/kafka/pom.xml pins the version): the
# broker, Kafka's own tools (kafka-topics, console consumer, perf tools) and a
# logging binding, copied once into a cache, so the second start downloads
# nothing. Each node is a combined broker+controller; --nodes 3 is a
# three-voter quorum. Ports are free ones picked at start, so several
# instances (one per --dir) run side by side. The topics of DESIGN.md §3 are
# created with replication factor min(3, N). Logs: DIR/node-I/server.log.
#
# --secure: clients get a SASL_SSL listener (SCRAM-SHA-512, TLS with a CA and a
# server certificate for 127.0.0.1/localhost made by openssl in DIR/tls); brokers
# talk to each other over it too, as user admin; the KRaft controller listener stays
# PLAINTEXT on loopback. Users admin and orderfleet are created at format time with
# random passwords (DIR/secrets/*.password, mode 600). stderr names the CA file and
# the client property files (DIR/client.properties for Java tools,
# DIR/client-librdkafka.properties for kcat -F, both as admin;
# DIR/orderfleet-librdkafka.properties as orderfleet); DIR/secure.env has their paths.
#
# Environment: ORDERFLEET_KAFKA_DIR (default build/kafka-local),
# ORDERFLEET_KAFKA_CACHE (default ~/.cache/orderfleet/kafka-VERSION),
# KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m), ORDERFLEET_TOPICS_* names.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
pom=$here/kafka/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
cache=${ORDERFLEET_KAFKA_CACHE:-$HOME/.cache/orderfleet/kafka-$version}
dir=${ORDERFLEET_KAFKA_DIR:-$repo/build/kafka-local}
nodes=1
node=
secure=0

die() { echo "kafka-local: $*" >&2; exit 1; }
usage() { sed -n '2,36s/^# \{0,1\}//p' "$0"; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 64; }
shift
while [ $# -gt 0 ]; do
  case $1 in
    --nodes) nodes=${2:?--nodes takes a number}; shift 2 ;;
    --nodes=*) nodes=${1#*=}; shift ;;
    --dir) dir=${2:?--dir takes a path}; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --node) node=${2:?--node takes a number}; shift 2 ;;
    --node=*) node=${1#*=}; shift ;;
    --secure) secure=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument \"$1\" (see --help)" ;;
  esac
done
[[ $nodes =~ ^[1-9]$ ]] || die "--nodes takes 1 to 9, got \"$nodes\""
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")

java_cp() { java -Djava.awt.headless=true -cp "$cache/*" "$@"; }

fetch() {
  [ -f "$cache/.complete" ] && return 0
  command -v java >/dev/null || die "Java 17 or newer is needed to run Kafka (Debian: apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "Maven is needed to fetch Kafka from Maven Central (Debian: apt-get install maven)"
  echo "kafka-local: fetching Apache Kafka $version from Maven Central into $cache" >&2
  rm -rf "$cache.tmp"
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DoutputDirectory="$cache.tmp" >&2 \
    || die "Maven could not fetch Kafka $version (see the output above)"
  rm -rf "$cache" && mv "$cache.tmp" "$cache" && touch "$cache/.complete"
}

# N free loopback ports, held together while chosen so none repeats.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# An instance started with --secure is secure for every later command too.
is_secure() { [ -f "$dir/client-librdkafka.properties" ]; }
# kcat as the admin user over SASL_SSL on a secure instance, plain otherwise.
kc() {
  if is_secure; then kcat -F "$dir/client-librdkafka.properties" "$@"; else kcat "$@"; fi
}

node_pid() { cat "$dir/node-$1/pid" 2>/dev/null || true; }
node_alive() { local p; p=$(node_pid "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
bootstrap() { cat "$dir/bootstrap" 2>/dev/null; }
node_count() { cat "$dir/nodes" 2>/dev/null || echo 0; }

start_node() {
  local i=$1
  local heap=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
  # shellcheck disable=SC2086
  setsid java -Djava.awt.headless=true $heap -XX:+UseG1GC \
    -Dlog4j.configuration="file:$dir/node-$i/log4j.properties" \
    -Dkafka.logs.dir="$dir/node-$i" \
    -cp "$cache/*" kafka.Kafka "$dir/node-$i/server.properties" \
    >"$dir/node-$i/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/node-$i/pid"
}

# Waits until every node answers metadata (kcat) or the deadline passes.
wait_ready() {
  local want=$1 deadline=$((SECONDS + ${2:-120})) i
  while [ $SECONDS -lt $deadline ]; do
    for i in $(seq "$(node_count)"); do
      if [ -f "$dir/node-$i/pid" ] && ! node_alive "$i"; then
        tail -n 30 "$dir/node-$i/server.log" "$dir/node-$i/stdout.log" >&2 2>/dev/null || true
        die "node $i exited during start (logs in $dir/node-$i)"
      fi
    done
    local seen
    seen=$(kc -L -b "$(bootstrap)" -m 3 2>/dev/null | sed -n 's/^ *\([0-9]*\) brokers:.*/\1/p' || true)
    [ "${seen:-0}" -ge "$want" ] && return 0
    sleep 0.5
  done
  die "Kafka did not answer within the deadline (logs in $dir)"
}

create_topics() {
  local n rf orders completed replies retry dlq parts
  n=$(node_count); rf=$(( n < 3 ? n : 3 ))
  orders=${ORDERFLEET_TOPICS_ORDERS:-orders}
  completed=${ORDERFLEET_TOPICS_COMPLETED:-orders.completed}
  replies=${ORDERFLEET_TOPICS_REPLIES:-orders.replies}
  retry=${ORDERFLEET_TOPICS_RETRY:-orders.retry}
  dlq=${ORDERFLEET_TOPICS_DLQ:-orders.dlq}
  parts=${ORDERFLEET_TOPICS_ORDERS_PARTITIONS:-12}
  local pids=() spec
  # name partitions extra-config...
  for spec in "$orders $parts" "$completed $parts" "$replies $parts retention.ms=3600000" \
              "$retry $parts" "$dlq 3"; do
    set -- $spec
    local t=$1 p=$2; shift 2
    local cfgs=()
    for c in "$@"; do cfgs+=(--config "$c"); done
    local auth=()
    is_secure && auth=(--command-config "$dir/client.properties")
    java_cp org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" "${auth[@]}" --create \
      --if-not-exists --topic "$t" --partitions "$p" --replication-factor "$rf" \
      --config min.insync.replicas=$(( rf > 1 ? 2 : 1 )) "${cfgs[@]}" \
      >>"$dir/topics.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "creating topics failed (see $dir/topics.log)"; done
  wait_topics "$orders" "$completed" "$replies" "$retry" "$dlq"
}

# Creation is asynchronous in a cluster: waits until every node's metadata
# shows every topic with its partitions, so that the bootstrap list printed
# next is ready for any client.
wait_topics() {
  local deadline=$((SECONDS + 60)) b t ok
  while [ $SECONDS -lt $deadline ]; do
    ok=1
    for b in $(bootstrap | tr ',' ' '); do
      local md
      md=$(kc -L -b "$b" -m 3 2>/dev/null || true)
      for t in "$@"; do
        grep -q "topic \"$t\" with [1-9][0-9]* partitions" <<<"$md" || { ok=0; break 2; }
      done
    done
    [ "$ok" -eq 1 ] && return 0
    sleep 0.2
  done
  die "topics not visible on every node within 60 s (see $dir/topics.log)"
}

# --secure: a CA and a server certificate (SAN IP 127.0.0.1, DNS localhost) in
# DIR/tls, random passwords of users admin and orderfleet in DIR/secrets (mode
# 600), and the client property files. Keys are unencrypted PKCS#8 PEM, readable
# by this user only: Kafka reads the PEM keystore without ssl.key.password.
make_secrets() {
  command -v openssl >/dev/null || die "openssl is needed for --secure (Debian: apt-get install openssl)"
  local t=$dir/tls s=$dir/secrets u
  mkdir -p "$t" "$s"
  chmod 700 "$t" "$s"
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/ca.key" -out "$t/ca.crt" -days 30 \
      -subj "/CN=orderfleet kafka-local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout "$t/server.key" -out "$t/server.csr" \
      -subj "/CN=127.0.0.1"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
      >"$t/server.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
      -out "$t/server.crt" -days 30 -extfile "$t/server.ext"
    cat "$t/server.key" "$t/server.crt" >"$t/server.pem"
    for u in admin orderfleet; do openssl rand -hex 24 >"$s/$u.password"; done
  ) >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; die "openssl could not make the certificates"; }
  chmod 644 "$t/ca.crt"
  local admin_pw of_pw
  admin_pw=$(cat "$s/admin.password"); of_pw=$(cat "$s/orderfleet.password")
  (
    umask 077
    cat >"$dir/client.properties" <<PROPS
# Kafka's Java tools (--command-config), user admin, written by deploy/kafka-local.sh
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
ssl.truststore.type=PEM
ssl.truststore.location=$t/ca.crt
PROPS
    for u in admin orderfleet; do
      local f=$dir/client-librdkafka.properties pw=$admin_pw
      [ "$u" = orderfleet ] && { f=$dir/orderfleet-librdkafka.properties; pw=$of_pw; }
      cat >"$f" <<PROPS
# librdkafka (kcat -F), user $u, written by deploy/kafka-local.sh
security.protocol=sasl_ssl
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$u
sasl.password=$pw
ssl.ca.location=$t/ca.crt
PROPS
    done
    cat >"$dir/secure.env" <<ENV
KAFKA_LOCAL_CA=$t/ca.crt
KAFKA_LOCAL_CLIENT_PROPERTIES=$dir/client.properties
KAFKA_LOCAL_ADMIN_LIBRDKAFKA_PROPERTIES=$dir/client-librdkafka.properties
KAFKA_LOCAL_LIBRDKAFKA_PROPERTIES=$dir/orderfleet-librdkafka.properties
KAFKA_LOCAL_USER=orderfleet
KAFKA_LOCAL_PASSWORD_FILE=$s/orderfleet.password
ENV
  )
}

# The listener lines of node i's server.properties: PLAINTEXT, or with
# --secure SASL_SSL for clients and brokers (SCRAM-SHA-512, user admin between
# brokers); the controller listener is PLAINTEXT on loopback either way.
listener_props() {
  local port=$1 cport=$2
  if [ "$secure" -eq 0 ]; then
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
    return
  fi
  cat <<PROPS
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$dir/secrets/admin.password")";
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/tls/ca.crt
ssl.client.auth=none
PROPS
}

do_start() {
  command -v kcat >/dev/null || die "kcat is needed to check the broker (Debian: apt-get install kcat)"
  command -v python3 >/dev/null || die "python3 is needed to pick free ports"
  if [ -f "$dir/bootstrap" ]; then
    local alive=0 i
    for i in $(seq "$(node_count)"); do node_alive "$i" && alive=$((alive + 1)); done
    if [ "$alive" -gt 0 ]; then
      echo "kafka-local: already running in $dir" >&2
      is_secure && print_secure
      bootstrap; return 0
    fi
    rm -rf "$dir"
  fi
  fetch
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$secure" -eq 1 ] && make_secrets
  local scram=()
  if [ "$secure" -eq 1 ]; then
    scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "$dir/secrets/admin.password")]"
           --add-scram "SCRAM-SHA-512=[name=orderfleet,password=$(cat "$dir/secrets/orderfleet.password")]")
  fi
  local ports i voters="" brokers="" cluster_id rf
  read -r -a ports <<<"$(free_ports $((2 * nodes)))"
  for i in $(seq "$nodes"); do
    voters+="${voters:+,}$i@127.0.0.1:${ports[$((2 * i - 1))]}"
    brokers+="${brokers:+,}127.0.0.1:${ports[$((2 * i - 2))]}"
  done
  echo "$nodes" >"$dir/nodes"
  echo "$brokers" >"$dir/bootstrap"
  rf=$(( nodes < 3 ? nodes : 3 ))
  cluster_id=$(java_cp kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  for i in $(seq "$nodes"); do
    mkdir -p "$dir/node-$i/data"
    cat >"$dir/node-$i/server.properties" <<PROPS
# node $i of $nodes, written by deploy/kafka-local.sh
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
$(listener_props "${ports[$((2 * i - 2))]}" "${ports[$((2 * i - 1))]}")
controller.listener.names=CONTROLLER
log.dirs=$dir/node-$i/data
num.partitions=1
default.replication.factor=$rf
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(( rf > 1 ? 2 : 1 ))
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.segment.bytes=67108864
PROPS
    cat >"$dir/node-$i/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/node-$i/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.kafka.log.LogCleaner=WARN
PROPS
    chmod 600 "$dir/node-$i/server.properties"
    java_cp kafka.tools.StorageTool format -t "$cluster_id" "${scram[@]}" \
      -c "$dir/node-$i/server.properties" --ignore-formatted >"$dir/node-$i/format.log" 2>&1 \
      || { cat "$dir/node-$i/format.log" >&2; die "formatting node $i failed"; }
  done
  for i in $(seq "$nodes"); do start_node "$i"; done
  wait_ready "$nodes"
  create_topics
  echo "kafka-local: Apache Kafka $version, $nodes node(s), data in $dir" >&2
  is_secure && print_secure
  bootstrap
}

print_secure() {
  echo "kafka-local: SASL_SSL (SCRAM-SHA-512) listener; TLS CA: $dir/tls/ca.crt" >&2
  echo "kafka-local: client properties: $dir/client.properties (Java tools, user admin)," \
       "$dir/client-librdkafka.properties (kcat -F, user admin)," \
       "$dir/orderfleet-librdkafka.properties (user orderfleet);" \
       "password of orderfleet in $dir/secrets/orderfleet.password; all paths in $dir/secure.env" >&2
}

stop_node() {
  local i=$1 sig=${2:-TERM} p
  p=$(node_pid "$i")
  [ -n "$p" ] || return 0
  kill -"$sig" "$p" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$dir/node-$i/pid"
}

do_stop() {
  [ -d "$dir" ] || return 0
  local i
  for i in $(seq "$(node_count)"); do stop_node "$i" TERM & done
  wait
  rm -rf "$dir"
}

do_status() {
  [ -f "$dir/bootstrap" ] || { echo "kafka-local: not running ($dir)"; return 3; }
  local i up=0
  for i in $(seq "$(node_count)"); do
    if node_alive "$i"; then echo "node $i: running (pid $(node_pid "$i"))"; up=$((up + 1))
    else echo "node $i: stopped"; fi
  done
  echo "bootstrap: $(bootstrap)"
  if is_secure; then echo "security: SASL_SSL, SCRAM-SHA-512; paths in $dir/secure.env"; fi
  [ "$up" -gt 0 ]
}

need_node() {
  [[ $node =~ ^[1-9]$ ]] && [ "$node" -le "$(node_count)" ] || die "--node takes 1 to $(node_count)"
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  fetch) fetch; echo "$cache" ;;
  topics) [ -f "$dir/nodes" ] || die "no instance in $dir (start one first)"
          create_topics ;;
  kill) need_node; p=$(node_pid "$node"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        rm -f "$dir/node-$node/pid" ;;
  restart) need_node; node_alive "$node" && die "node $node is running"
           start_node "$node"; wait_ready "$(node_count)"; bootstrap ;;
  *) usage >&2; exit 64 ;;
esac

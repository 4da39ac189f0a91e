#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, no ZooKeeper) on 127.0.0.1 for tests, CI and benches.
# The broker's jars come from Maven Central (org.apache.kafka:kafka_2.13 and its runtime
# dependencies, through a generated pom and `mvn dependency:copy-dependencies`) and are cached outside
# the repository, so only Java 17+ and Maven are needed; no Docker, no distribution tarball.
#
#   scripts/kafka.sh fetch                 download the jars (idempotent)
#   scripts/kafka.sh start [DIR]           start a broker whose state lives in DIR (default: a new
#                                          folder under the cache); prints DIR and the bootstrap
#                                          address as `DIR host:port`. Reusing a DIR restarts that
#                                          broker on its old port with its old data.
#   scripts/kafka.sh stop DIR              stop the broker of DIR (SIGTERM, then SIGKILL)
#   scripts/kafka.sh kill DIR              SIGKILL it (a crash)
#   scripts/kafka.sh remove DIR            stop it and delete DIR
#
# Environment: KAFKA_VERSION (default below), KAFKA_CACHE_DIR (default ~/.cache/groundwork/kafka),
# KAFKA_PORT (fixed listener port; default: a free port chosen at start), KAFKA_HEAP (default 384m).
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION=2.24.3
CACHE_DIR="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/groundwork/kafka}"
LIBS="$CACHE_DIR/$KAFKA_VERSION/libs"

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  if [[ -f "$LIBS/.complete" ]]; then return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the broker"
  command -v java >/dev/null || die "Java 17+ is needed to run the broker"
  local work="$CACHE_DIR/$KAFKA_VERSION/pom"
  mkdir -p "$work"
  # log4j-slf4j-impl binds Kafka's slf4j 1.7 logging to log4j2, so the broker writes a log we can
  # wait on; without a binding it logs nothing at all.
  cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>groundwork</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  echo "kafka.sh: fetching Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS" >&2
  rm -rf "$LIBS.tmp"
  mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 \
    || die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
  rm -rf "$LIBS" && mv "$LIBS.tmp" "$LIBS" && touch "$LIBS/.complete"
}

free_port() {
  # Binding port 0 lets the kernel pick a port nobody uses; node is always there in this project.
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

java_cmd() {
  local dir="$1"; shift
  java -Xms64m -Xmx"${KAFKA_HEAP:-384m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" "$@"
}

start() {
  fetch
  local dir="${1:-}"
  if [[ -z "$dir" ]]; then
    mkdir -p "$CACHE_DIR/brokers"
    dir="$(mktemp -d "$CACHE_DIR/brokers/broker-XXXXXX")"
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then die "a broker of $dir is already running"; fi

  if [[ ! -f "$dir/server.properties" ]]; then
    local port="${KAFKA_PORT:-$(free_port)}" controller_port
    controller_port="$(free_port)"
    [[ "$controller_port" != "$port" ]] || controller_port="$(free_port)"
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
# One node: every internal topic has one replica, and groups start without waiting for more members.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
min.insync.replicas=1
PROPS
    cat > "$dir/log4j2.properties" <<'LOG'
appender.file.type=File
appender.file.name=file
appender.file.fileName=${sys:kafka.logs.dir}/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
LOG
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    java_cmd "$dir" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "formatting storage in $dir failed"; }
  fi

  local port
  port="$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.properties")"
  : > "$dir/server.log"
  # setsid: the broker outlives this script and is not hit by signals sent to the caller's group.
  setsid bash -c "exec java -Xms64m -Xmx${KAFKA_HEAP:-384m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile='$dir/log4j2.properties' -Dkafka.logs.dir='$dir' \
    -cp '$LIBS/*' kafka.Kafka '$dir/server.properties'" >"$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"

  for _ in $(seq 1 240); do
    if grep -q 'Kafka Server started' "$dir/server.log" 2>/dev/null; then
      echo "$dir 127.0.0.1:$port"
      return
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      tail -n 30 "$dir/server.log" "$dir/stdout.log" >&2 || true
      die "the broker of $dir exited during start"
    fi
    sleep 0.25
  done
  tail -n 30 "$dir/server.log" >&2 || true
  die "the broker of $dir did not start within 60 s"
}

stop() {
  local dir="${1:?usage: kafka.sh stop DIR}" signal="${2:-TERM}"
  [[ -f "$dir/pid" ]] || return 0
  local pid
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  kill) stop "${2:-}" KILL ;;
  remove) stop "${2:-}"; [[ -n "${2:-}" && -f "$2/server.properties" ]] && rm -rf "$2" ;;
  *) die "usage: kafka.sh fetch | start [DIR] | stop DIR | kill DIR | remove DIR" ;;
esac

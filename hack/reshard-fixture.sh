# Sourced by hack/test.d/28-reshard and hack/bench-reshard: Debian's
# ZooKeeper and three Debian ClickHouse 18.16 servers (hack/clickhouse) on
# free loopback ports under $dir, the cluster "posthog" listing the first
# N of them (topology N), and the PostHog events tables of
# hack/clickhouse-base-schema.sql with sharded_events made Replicated as
# PostHog's own is (ReplicatedReplacingMergeTree on
# /clickhouse/tables/{shard}/posthog.events, posthog/models/event/sql.py).
#
# Needs: top, dir. Defines: fx_up, fx_down, fx_kill S, fx_start S, fx_topology N, q S SQL,
# fx_url S, fx_addr S. Servers are 0, 1, 2.
fx_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
fx_zk_started=""

fx_free_ports() { # n (hack/freeport.py: from below the ephemeral range)
  python3 "$top/hack/freeport.py" "$1"
}

fx_url() { (source "$dir/ch$1/env"; echo "$CLICKHOUSE_URL"); }
fx_addr() { (source "$dir/ch$1/env"; echo "127.0.0.1:$CLICKHOUSE_TCP_PORT"); }
q() { # server sql; Q_PARAMS: settings as a URL query (a=1&b=2)
  local s=$1 sql=$2
  curl -fsS -H "X-ClickHouse-User: admin" -H "X-ClickHouse-Key: $fx_password" \
    --data-binary "$sql" "${fx_urls[$s]}/${Q_PARAMS:+?$Q_PARAMS}" || { echo "query on server $s failed: $sql" >&2; return 1; }
}

# Writes config.d/shards.xml of every server: the cluster lists the first
# N servers. ClickHouse reloads it by itself; this waits until every server
# reports N shards.
fx_topology() { # N
  local n=$1 s i shards="" tcp
  for ((i = 0; i < n; i++)); do
    tcp=$(source "$dir/ch$i/env"; echo "$CLICKHOUSE_TCP_PORT")
    shards+="<shard><replica><host>127.0.0.1</host><port>$tcp</port><user>admin</user><password>$fx_password</password></replica></shard>"
  done
  for s in 0 1 2; do
    mkdir -p "$dir/ch$s/config.d"
    cat >"$dir/ch$s/config.d/shards.xml.tmp" <<XML
<?xml version="1.0"?>
<yandex>
    <zookeeper><node><host>127.0.0.1</host><port>$fx_zk</port></node>
        <session_timeout_ms>30000</session_timeout_ms></zookeeper>
    <macros replace="replace"><cluster>posthog</cluster><shard>$((s + 1))</shard><replica>replica-$s</replica></macros>
    <remote_servers replace="replace"><posthog>$shards</posthog></remote_servers>
</yandex>
XML
    mv "$dir/ch$s/config.d/shards.xml.tmp" "$dir/ch$s/config.d/shards.xml"
  done
  [ -z "${fx_urls[0]:-}" ] && return 0
  for i in $(seq 1 150); do
    local ok=1
    for s in 0 1 2; do
      [ "$(q "$s" "SELECT count(DISTINCT shard_num) FROM system.clusters WHERE cluster = 'posthog'")" = "$n" ] || ok=""
    done
    [ -n "$ok" ] && return 0
    sleep 0.2
  done
  echo "fixture: the servers did not load topology $n" >&2
  return 1
}

fx_up() {
  local ports s
  read -r fx_zk p0 p1 p2 p3 p4 p5 p6 p7 p8 < <(fx_free_ports 10)
  fx_zk_started=1
  "$top/hack/zookeeper" up --dir "$dir/zk" --port "$fx_zk" || return 1
  ports=("$p0 $p1 $p2" "$p3 $p4 $p5" "$p6 $p7 $p8")
  fx_urls=()
  # The env files first (ports), then the config, then the servers.
  for s in 0 1 2; do
    read -r http tcp is <<<"${ports[$s]}"
    mkdir -p "$dir/ch$s"
    printf 'CLICKHOUSE_URL=http://127.0.0.1:%s\nCLICKHOUSE_TCP_PORT=%s\n' "$http" "$tcp" >"$dir/ch$s/env"
    echo "$is" >"$dir/ch$s/interserver-port"
  done
  fx_topology 2
  for s in 0 1 2; do
    read -r http tcp is <<<"${ports[$s]}"
    "$top/hack/clickhouse" up --dir "$dir/ch$s" --port "$http" --tcp-port "$tcp" --interserver-port "$is" \
      --password "$fx_password" >/dev/null 2>"$dir/up$s.log" ||
      { cat "$dir/up$s.log" >&2; echo "fixture: server $s did not start" >&2; return 1; }
    fx_urls[$s]=$(fx_url "$s")
  done
  # The schema: PostHog's events tables as hack/clickhouse-base-schema.sql
  # has them (up to the Kafka table), sharded_events Replicated.
  sed -n '/^CREATE DATABASE/,/^CREATE TABLE IF NOT EXISTS posthog.kafka_events_json/p' \
    "$top/hack/clickhouse-base-schema.sql" | grep -v 'kafka_events_json' |
    sed "s|ENGINE = ReplacingMergeTree(_timestamp)|ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/posthog.events', '{replica}', _timestamp)|" \
      >"$dir/schema.sql"
  grep -q ReplicatedReplacingMergeTree "$dir/schema.sql" || { echo "fixture: schema rewrite failed" >&2; return 1; }
  for s in 0 1 2; do
    "$top/hack/clickhouse" sql --dir "$dir/ch$s" "$dir/schema.sql" >/dev/null || return 1
  done
}

fx_kill() { # server: kill -9 of one server (its data stays), waiting until it is gone
  local pid
  pid=$(cat "$dir/ch$1/pid") || return 1
  kill -9 "$pid" || return 1
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

fx_start() { # server: starts a killed server again, on the same ports
  local url tcp is
  url=$(fx_url "$1") tcp=$(source "$dir/ch$1/env"; echo "$CLICKHOUSE_TCP_PORT")
  is=$(cat "$dir/ch$1/interserver-port") || return 1
  "$top/hack/clickhouse" up --dir "$dir/ch$1" --port "${url##*:}" --tcp-port "$tcp" --interserver-port "$is" \
    --password "$fx_password" >/dev/null 2>"$dir/up$1.log" ||
    { cat "$dir/up$1.log" >&2; echo "fixture: server $1 did not start again" >&2; return 1; }
}

fx_down() {
  local s
  for s in 0 1 2; do
    "$top/hack/clickhouse" down --dir "$dir/ch$s" >/dev/null 2>&1
  done
  [ -z "$fx_zk_started" ] || "$top/hack/zookeeper" down --dir "$dir/zk"
}

# Shared by hack/demo, hack/bench and the e2e runners: start and stop the
# local stack (a real ClickHouse, an API server, the operator). Source it; it
# defines functions only.
#
# CLUSTER picks the API server:
#   local (default)  hack/local-cluster, the simulator; the operator reaches
#                    ClickHouse through its service proxy.
#   kube             hack/kube-cluster, a real control plane whose pods are
#                    simulated (kwok); the operator reaches ClickHouse by
#                    service DNS name, mapped to the local server with
#                    --connect-to (no traffic leaves loopback).

# free_port: prints a TCP port nobody listens on, from below the ephemeral
# range so that no outgoing connection takes it first (hack/freeport.py).
free_port() {
  "$PYTHON" "$top/hack/freeport.py"
}

# bench_build: builds the operator the benchmarks time and sets BENCH_BUILD
# to its build directory. That is the build that ships, configured as the
# Dockerfile does (build-release: --buildtype=release, so -O3), unless
# BUILD_DIR names another (BUILD_DIR=build: the debug build hack/test uses,
# which is unoptimized, -O0). Figures recorded before 2026-12-03 came from
# that debug build; docs/performance.md says which is which.
bench_build() {
  BENCH_BUILD=${BUILD_DIR:-build-release}
  if [ ! -f "$top/$BENCH_BUILD/build.ninja" ]; then
    [ "$BENCH_BUILD" = build-release ] || { echo "bench: no build in $BENCH_BUILD" >&2; return 1; }
    meson setup --buildtype=release -Dtests=disabled -Dwerror=false "$top/$BENCH_BUILD" >/dev/null || return 1
  fi
  ninja -C "$top/$BENCH_BUILD" operator/posthog-operator >/dev/null || return 1
  echo "bench: timing $BENCH_BUILD/operator/posthog-operator ($(meson introspect --buildoptions "$top/$BENCH_BUILD" |
    "$PYTHON" -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(sys.stdin)}; print("buildtype %s, optimization %s" % (o["buildtype"], o["optimization"]))'))"
}

# proc_running PID: whether process PID exists and has not exited (a zombie
# has). The servers' start-up loops (hack/clickhouse, hack/zookeeper,
# hack/s3, hack/kafka) ask this of the child they started, not their live_pid: until
# the child has exec'd the server its command line is still the shell's,
# which live_pid took for an exit when the machine was busy ("server
# exited during startup" with no server log at all).
proc_running() {
  local state
  state=$(sed -n 's/.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# kube_cluster_down DIR [PID]: stops the control plane whose state is in
# DIR. PID is a `hack/kube-cluster up` still running in the background (an
# early failure); it is stopped and waited for first, so that `down` finds
# every process that `up` started and none outlives the run.
kube_cluster_down() {
  if [ -n "${2:-}" ]; then
    kill -TERM "$2" 2>/dev/null || true
    wait "$2" 2>/dev/null || true
  fi
  KUBE_CLUSTER_DIR="$1" "$top/hack/kube-cluster" down >/dev/null 2>&1 || true
}

# stack_up DIR: starts ClickHouse (with PostHog's base schema) and a local
# API server proxying every Service port 8123 to it, all state under DIR.
# Sets KUBECONFIG, CLICKHOUSE_URL/USER/PASSWORD, STACK_DIR.
stack_up() {
  STACK_DIR=$1
  mkdir -p "$STACK_DIR"
  local ch_port api_port env
  ch_port=$(free_port)
  # (eval "$(cmd)" would hide cmd's failure: eval of nothing succeeds.)
  env=$("$top/hack/clickhouse" up --dir "$STACK_DIR/clickhouse" --port "$ch_port" \
          --tcp-port "$(free_port)" --interserver-port "$(free_port)" --password change-me) || return 1
  eval "$env"
  "$top/hack/clickhouse" sql --dir "$STACK_DIR/clickhouse" "$top/hack/clickhouse-base-schema.sql" >/dev/null
  api_port=$(free_port)
  case "${CLUSTER:-local}" in
    local)
      LOCAL_CLUSTER_DIR="$STACK_DIR/cluster" "$top/hack/local-cluster" up --port "$api_port" \
        --proxy "*:8123=127.0.0.1:$ch_port" "${STACK_CLUSTER_ARGS[@]}" >/dev/null || return 1
      OPERATOR_CLICKHOUSE_ARGS=(--clickhouse-access proxy) ;;
    kube)
      KUBE_CLUSTER_DIR="$STACK_DIR/cluster" "$top/hack/kube-cluster" up --port "$api_port" \
        "${STACK_CLUSTER_ARGS[@]}" >/dev/null || return 1
      # Every ClickHouse Service port 8123, whatever its name, is the local server.
      OPERATOR_CLICKHOUSE_ARGS=(--clickhouse-access dns --connect-to ":8123:127.0.0.1:$ch_port") ;;
    *) echo "CLUSTER must be local or kube, not '$CLUSTER'" >&2; return 1 ;;
  esac
  export KUBECONFIG="$STACK_DIR/cluster/kubeconfig"
  kubectl apply --server-side -f "$top/crds/" >/dev/null
  # Retried: on a real API server the CRD may have no status for a moment,
  # and this kubectl then fails at once instead of waiting.
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    kubectl wait --for=condition=Established crd/posthogs.posthog.com --timeout=30s >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  kubectl wait --for=condition=Established crd/posthogs.posthog.com --timeout=30s >/dev/null
}

# operator_start LOGFILE [ARGS...]: runs the operator against $KUBECONFIG in
# the background; sets OPERATOR_PID, OPERATOR_METRICS_PORT and
# OPERATOR_HEALTH_PORT. OPERATOR_BIN overrides the binary (hack/bench runs a
# saved build as the baseline). Only ClickHouse is a real server in
# the stack, so only its restarts wait for more than Ready
# (--health-gates clickhouse, docs/upgrades.md).
operator_start() {
  local logfile=$1; shift
  local chargs=("${OPERATOR_CLICKHOUSE_ARGS[@]}")
  [ ${#chargs[@]} -gt 0 ] || chargs=(--clickhouse-access proxy)
  OPERATOR_METRICS_PORT=$(free_port)
  OPERATOR_HEALTH_PORT=$(free_port)
  "${OPERATOR_BIN:-$top/${BUILD_DIR:-build}/operator/posthog-operator}" --kubeconfig "$KUBECONFIG" \
    "${chargs[@]}" --metrics-bind-address "127.0.0.1:$OPERATOR_METRICS_PORT" \
    --health-probe-bind-address "127.0.0.1:$OPERATOR_HEALTH_PORT" --log-format text \
    --health-gates clickhouse "$@" \
    >>"$logfile" 2>&1 &
  OPERATOR_PID=$!
}

# stack_down: stops the operator, the API server and ClickHouse.
stack_down() {
  if [ -n "${OPERATOR_PID:-}" ]; then
    # Polled rather than waited for: this runs from EXIT traps, and a
    # `wait` in a trap that interrupted another `wait` (Ctrl-C in hack/demo)
    # can block forever.
    kill -TERM "$OPERATOR_PID" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$OPERATOR_PID" 2>/dev/null || break
      sleep 0.1
    done
    OPERATOR_PID=""
  fi
  [ -n "${STACK_DIR:-}" ] || return 0
  if [ "${CLUSTER:-local}" = kube ]; then
    KUBE_CLUSTER_DIR="$STACK_DIR/cluster" "$top/hack/kube-cluster" down >/dev/null 2>&1 || true
  else
    LOCAL_CLUSTER_DIR="$STACK_DIR/cluster" "$top/hack/local-cluster" down >/dev/null 2>&1 || true
  fi
  "$top/hack/clickhouse" down --dir "$STACK_DIR/clickhouse" >/dev/null 2>&1 || true
}

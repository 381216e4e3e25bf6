#!/usr/bin/env bash
# Integration tests of the controller runtime against the local API server
# (hack/local-cluster), driven by runtime-testctl, a ConfigMap controller
# built on pkg/manager. Usage: e2e/runtime/run.sh <build dir>
# Needs LOCAL_CLUSTER_DIR (with kubeconfig) of a running local cluster.
# Prints one "ok"/"FAIL" line per check and "N passed, N failed".
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/e2e/runtime/runtime-testctl
dir=${LOCAL_CLUSTER_DIR:?}
export KUBECONFIG=$dir/kubeconfig
work=$(mktemp -d)
record=$work/record.txt
ns=runtime-it
# Short Lease timings keep the failover checks quick; the renew deadline
# and retry period keep client-go's proportions.
lease=4 renew=3 retry=0.5
passed=0 failed=0
pids=()
# Free loopback ports (metrics, health) for the three replicas, so that
# two runs on one machine do not answer each other's probes
# (hack/freeport.py: below the ephemeral range, and leased).
read -r ma ha mb hb mc hc < <(python3 "$top/hack/freeport.py" 6)

ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
now() { date +%s.%N; }
kc() { kubectl -n "$ns" "$@"; }

# wait_for SECONDS CMD...: polls every 0.1 s.
wait_for() {
  local deadline; deadline=$(echo "$(now) + $1" | bc); shift
  until "$@" >/dev/null 2>&1; do
    if (( $(echo "$(now) > $deadline" | bc) )); then return 1; fi
    sleep 0.1
  done
}

# start NAME METRICS_PORT HEALTH_PORT: a testctl with leader election.
start() {
  RUNTIME_TEST_RECORD=$record "$bin" --leader-elect \
    --leader-election-namespace "$ns" --leader-election-id runtime-it-lock \
    --leader-election-lease-duration ${lease}s --leader-election-renew-deadline ${renew}s \
    --leader-election-retry-period ${retry}s --graceful-shutdown-timeout 10s \
    --namespace "$ns" --workers 2 --log-format text \
    --metrics-bind-address 127.0.0.1:$2 --health-probe-bind-address 127.0.0.1:$3 \
    >"$work/$1.log" 2>&1 &
  eval "pid_$1=$!"
  pids+=($!)
}

holder() { kc get lease runtime-it-lock -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
identity_of() { sed -n 's/.*starting as \([^ ]*\).*/\1/p' "$work/$1.log" | head -1; }
is_holder() { [ "$(holder)" = "$1" ]; }
ready() { curl -fs "127.0.0.1:$1/readyz" >/dev/null; }
metric() { # metric PORT 'name{labels}' -> value (0 when absent)
  curl -fs "127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2; f=1 } END { if (!f) print 0 }'
}

observed() { kc get cm "$1" -o jsonpath='{.metadata.annotations.runtime-test/observed}' 2>/dev/null; }
observed_is() { [ "$(observed "$1")" = "$2" ]; }
setcm() { # setcm NAME VALUE [fail]
  kubectl apply -n "$ns" --server-side --field-manager runtime-it -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: $1, labels: {runtime-test: "true"}}
data: {v: "$2", fail: "${3:-false}"}
YAML
}
# every labelled ConfigMap's annotation equals its data.v
all_observed() {
  kc get cm -l runtime-test=true -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
bad = [i["metadata"]["name"] for i in items
       if i["data"].get("fail") != "true" and
       (i["metadata"].get("annotations") or {}).get("runtime-test/observed") != i["data"]["v"]]
sys.exit(1 if bad or not items else 0)'
}
fault() { # fault JSON: one-shot actions need a fresh document each time
  printf '%s\n' "$1" > "$dir/faults.json.tmp" && mv "$dir/faults.json.tmp" "$dir/faults.json"
  sleep 0.5
}

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -f "$dir/faults.json"
  if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

kubectl create namespace "$ns" >/dev/null || exit 1

# --- 1. exactly one of two replicas reconciles -----------------------------
start a "$ma" "$ha"
start b "$mb" "$hb"
check "both replicas serve /readyz" wait_for 20 eval 'ready $ha && ready $hb'
check "one replica takes the Lease" wait_for 20 eval '[ -n "$(holder)" ]'
ida=$(identity_of a) idb=$(identity_of b)
if is_holder "$ida"; then lead=a follow=b; else lead=b follow=a; fi
idl=$(identity_of $lead) idf=$(identity_of $follow)
setcm one 1
check "the leader reconciles a new ConfigMap" wait_for 20 observed_is one 1
setcm one 2
check "and an update" wait_for 20 observed_is one 2
sleep 1
check "the follower reconciled nothing" eval '! grep -q "^$idf " "$record"'
check "only the leader reconciled" grep -q "^$idl runtime-it/one 2" "$record"
mport=$([ $lead = a ] && echo "$ma" || echo "$mb")
fport=$([ $lead = a ] && echo "$mb" || echo "$ma")
check "leader_election_master_status is 1 on the leader" \
  eval '[ "$(metric $mport "leader_election_master_status{name=\"runtime-it-lock\"}")" = 1 ]'
check "and 0 on the follower" \
  eval '[ "$(metric $fport "leader_election_master_status{name=\"runtime-it-lock\"}")" = 0 ]'

# --- 2. SIGTERM hands over at once (the Lease is released) ------------------
t0=$(now)
kill -TERM "$(eval echo \$pid_$lead)"
wait_for 20 is_holder "$idf"; took=$(echo "$(now) - $t0" | bc)
# Timed by the processes' own clocks (the old leader's log, the Lease's
# acquireTime written by the new one), not by this script's polling: on a
# loaded machine each kubectl here can take seconds.
signalled=$(sed -n 's/^\([^ ]*\) .*received SIGTERM.*/\1/p' "$work/$lead.log" | head -1)
acquired=$(kc get lease runtime-it-lock -o jsonpath='{.spec.acquireTime}')
echo "     SIGTERM at $signalled, Lease taken at $acquired (lease ${lease}s; the script saw it after ${took}s)"
check "SIGTERM: the follower takes over before the lease could expire" \
  python3 -c 'import sys, datetime as d
p = lambda t: d.datetime.fromisoformat(t.replace("Z", "+00:00"))
sys.exit(0 if 0 <= (p(sys.argv[2]) - p(sys.argv[1])).total_seconds() < float(sys.argv[3]) else 1)' \
  "$signalled" "$acquired" "$lease"
check "SIGTERM: the old leader exited 0" wait "$(eval echo \$pid_$lead)"
setcm one 3
check "the new leader reconciles" wait_for 20 observed_is one 3
check "as itself" eval 'kc get cm one -o jsonpath="{.metadata.annotations.runtime-test/by}" | grep -qx "$idf"'

# --- 3. SIGKILL: handover within the lease duration -------------------------
start c "$mc" "$hc"
wait_for 20 ready "$hc"
idc=$(identity_of c)
sleep 1
lease_now() { kc get lease runtime-it-lock -o jsonpath='{.spec.holderIdentity} {.spec.renewTime}'; }
before=$(lease_now)
t0=$(now)
kill -KILL "$(eval echo \$pid_$follow)"
# The dead leader's last renewal: the Lease keeps it until someone takes
# over. On a loaded machine this read may come after the standby took it;
# then the renewal read before the kill stands in (earlier than the last
# one, so the check below is at most one renew interval less strict).
after=$(lease_now)
if [ "${after%% *}" = "$idf" ]; then last_renew=${after#* }; else
  last_renew=${before#* }; echo "     the Lease changed hands before it was read after the kill; using the renewal read before it"; fi
wait_for 30 is_holder "$idc"; took=$(echo "$(now) - $t0" | bc)
acquired=$(kc get lease runtime-it-lock -o jsonpath='{.spec.acquireTime}')
echo "     SIGKILL handover took ${took}s (lease ${lease}s, retry ${retry}s); last renewal $last_renew, taken $acquired"
# Safety, not speed: the standby must not take the Lease before it expired
# (the lease duration after the last renewal). How soon it takes it depends
# on the machine's load; it is printed above, and the wait_for bounds it.
check "SIGKILL: the standby takes over, and not before the Lease expired" \
  python3 -c 'import sys, datetime as d
p = lambda t: d.datetime.fromisoformat(t.replace("Z", "+00:00"))
sys.exit(0 if (p(sys.argv[2]) - p(sys.argv[1])).total_seconds() >= float(sys.argv[3]) else 1)' \
  "$last_renew" "$acquired" "$lease"
setcm one 4
check "the standby reconciles after the takeover" wait_for 20 observed_is one 4

# --- 4. watch drops and 410s lose no update ---------------------------------
for i in $(seq 1 30); do
  setcm "f$((i % 10))" "$i"
  case $((i % 6)) in
    0) fault "{\"closeWatches\": true, \"n\": $i}" ;;
    3) fault "{\"expireHistory\": true, \"closeWatches\": true, \"n\": $i}" ;;
  esac
done
kc delete cm f9 >/dev/null
fault '{"expireHistory": true, "closeWatches": true, "n": "last"}'
setcm f0 final
check "every change made during the faults is reconciled" wait_for 60 all_observed
check "the deletion is seen" wait_for 20 grep -q "^$idc runtime-it/f9 deleted" "$record"
reconnects=$(grep -c "relisting" "$work/c.log")
echo "     relists after 410: $reconnects"
check "410s made the informer relist" [ "$reconnects" -ge 1 ]

# --- 5. /metrics matches what happened --------------------------------------
setcm bad 1 true
wait_for 20 eval '[ "$(grep -c "^$idc runtime-it/bad failing" "$record")" -ge 3 ]'
setcm bad 2 false
wait_for 20 observed_is bad 2
sleep 1
lines=$(grep -c "^$idc " "$record")
failing=$(grep -c "^$idc runtime-it/bad failing" "$record")
success=$(metric $mc 'controller_runtime_reconcile_total{controller="configmap",result="success"}')
errors=$(metric $mc 'controller_runtime_reconcile_total{controller="configmap",result="error"}')
errtotal=$(metric $mc 'controller_runtime_reconcile_errors_total{controller="configmap"}')
retries=$(metric $mc 'workqueue_retries_total{name="configmap"}')
depth=$(metric $mc 'workqueue_depth{name="configmap"}')
count=$(metric $mc 'controller_runtime_reconcile_time_seconds_count{controller="configmap"}')
echo "     reconciles recorded $lines (failing $failing); metrics success $success error $errors retries $retries"
check "reconcile_total{result=success} equals the successful reconciles" [ "$success" = $((lines - failing)) ]
check "reconcile_total{result=error} and errors_total equal the failures" \
  eval '[ "$errors" = "$failing" ] && [ "$errtotal" = "$failing" ]'
check "reconcile_time_seconds counts every reconcile" [ "$count" = "$lines" ]
check "workqueue_retries_total counts the retries" [ "$retries" = "$failing" ]
check "workqueue_depth is 0 at rest" [ "$depth" = 0 ]
check "rest_client_requests_total counts PATCHes" \
  eval '[ "$(metric $mc "rest_client_requests_total{code=\"200\",host=\"127.0.0.1\",method=\"PATCH\"}")" -ge 1 ]'
curl -fs 127.0.0.1:$mc/metrics > "$work/metrics.txt"
check "process metrics are exported" grep -q "^process_resident_memory_bytes " "$work/metrics.txt"

# --- 6. a bad flag and an unreachable server fail with one clear line --------
out=$("$bin" --workers 0 2>&1); rc=$?
check "a bad flag exits 2 naming the flag" eval '[ $rc = 2 ] && echo "$out" | grep -q -- "--workers" && [ $(echo "$out" | wc -l) = 1 ]'
printf 'apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: x\n  cluster: {server: "https://127.0.0.1:1"}\nusers:\n- name: x\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: x, user: x}\n' > "$work/dead.yaml"
out=$("$bin" --kubeconfig "$work/dead.yaml" --log-format text 2>&1); rc=$?
check "an unreachable API server exits 1 with a hint" \
  eval '[ $rc = 1 ] && echo "$out" | grep -q "unreachable.*--kubeconfig"'

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]

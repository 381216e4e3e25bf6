"""End-to-end test of resharding in the operator (docs/resharding.md), run
by hack/test.d/63-e2e-reshard-kube on the real control plane.

What is real: the control plane (kube-apiserver, the Job controller, the
garbage collector), the operator, ZooKeeper and three ClickHouse 18.16
servers standing for the PostHog's shards (the operator reaches replica 0 of
shard s, "<ph>-clickhouse-<s>-0.<ns>.svc:8123", on local server s through
--connect-to). What is simulated: kwok runs no container. JobPod below
plays the kubelet for the reshard Job's pod: it runs the pod's own command
(`posthog-operator reshard` with the Job's arguments, its Service names
mapped to the local servers as the operator's --connect-to maps them) with
the environment the pod declares (the password read from the Secret the Job
names), then writes the pod's outcome to its status, from which the Job
controller completes the Job. The script E2E_TOPOLOGY does what ClickHouse
does when the operator's remote_servers ConfigMap changes (reloads it).
The operator fills status.reshard from the progress the command keeps in
ClickHouse, never from this test.
"""
import base64
import json
import os
import subprocess
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
NS = os.environ["E2E_NS"]
PH = os.environ["E2E_PH"]
PASSWORD = os.environ["E2E_PASSWORD"]
URLS = os.environ["E2E_URLS"].split()
ADDRS = os.environ["E2E_ADDRS"].split()
BIN = os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator", "posthog-operator")
TIMEOUT = 90
ROWS = 10000
VERSION = "03bc2ff27ab6730aef6b418718014e523e206fd3"


def kubectl(*args, check=True, input=None):
    p = subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def get(kind, name=None):
    args = ["get", kind, "-o", "json"] + ([name] if name else [])
    p = kubectl(*args, check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def apply(obj):
    kubectl("apply", "-f", "-", input=json.dumps(obj))


def patch_ph(patch):
    kubectl("patch", "posthog", PH, "--type=merge", "-p", json.dumps(patch))


def wait_for(what, fn, timeout=TIMEOUT, interval=0.3):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def condition(obj, ctype):
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def reshard():
    return (get("posthog", PH) or {}).get("status", {}).get("reshard") or {}


def sql(server, q, params=""):
    req = urllib.request.Request(URLS[server] + "/" + params, data=q.encode(), headers={
        "X-ClickHouse-User": "admin", "X-ClickHouse-Key": PASSWORD})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode().strip()


def event_reasons():
    p = subprocess.run(["kubectl", "-n", NS, "get", "events.v1.events.k8s.io", "-o", "json"],
                       capture_output=True, text=True, timeout=60, check=True)
    return {e.get("reason") for e in json.loads(p.stdout)["items"]
            if e.get("regarding", {}).get("kind") == "PostHog"}


def metric(metric_name, **labels):
    with urllib.request.urlopen(os.environ["E2E_METRICS_URL"], timeout=10) as r:
        for line in r.read().decode().splitlines():
            if not line.startswith(metric_name + "{"):
                continue
            head, value = line.rsplit(" ", 1)
            if all('%s="%s"' % kv in head for kv in labels.items()):
                return float(value)
    return None


def topology(n):
    subprocess.run([os.environ["E2E_TOPOLOGY"], str(n)], check=True, timeout=60)


def everywhere(shards=3):
    return "remote('%s', posthog, sharded_events, 'admin', '%s')" % (",".join(ADDRS[:shards]), PASSWORD)


def totals():
    return sql(0, "SELECT count(), sum(cityHash64(toString(uuid))), uniqExact(uuid) FROM %s" % everywhere())


def misplaced(n):
    """Rows on a shard other than the one sipHash64(distinct_id) % n gives."""
    return sum(int(sql(s, "SELECT count() FROM posthog.sharded_events WHERE sipHash64(distinct_id) %% %d != %d"
                       % (n, s))) for s in range(3))


def run_pod(job, extra_env=None, finish=True):
    """Runs the Job's pod's command against the local servers; with finish,
    writes the outcome to the pod's status as a kubelet would."""
    pod = wait_for("a Running pod of Job %s" % job, lambda: next(
        (p for p in (get("pods") or {"items": []})["items"]
         if p["metadata"].get("labels", {}).get("job-name") == job
         and p.get("status", {}).get("phase") == "Running"), None))
    ct = pod["spec"]["containers"][0]
    env = dict(os.environ, **(extra_env or {}))
    secrets = {s["metadata"]["name"]: s for s in get("secrets")["items"]}
    for e in ct.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
    args = []
    for a in ct["args"]:
        for s in range(3):
            host = "%s-clickhouse-%d-0.%s.svc" % (PH, s, NS)
            a = a.replace("http://%s:8123" % host, URLS[s]).replace("%s:9000" % host, ADDRS[s])
        args.append(a)
    p = subprocess.run([BIN] + args, env=env, capture_output=True, text=True, timeout=300)
    if finish:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        term = {"exitCode": p.returncode if p.returncode >= 0 else 128 - p.returncode,
                "reason": "Completed" if p.returncode == 0 else "Error",
                "startedAt": now, "finishedAt": now}
        kubectl("patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": {
                    "phase": "Succeeded" if p.returncode == 0 else "Failed",
                    "containerStatuses": [{"name": ct["name"], "image": ct["image"], "imageID": "",
                                           "ready": False, "started": False, "restartCount": 0,
                                           "state": {"terminated": term}}]}}))
    return p, ct


class ReshardE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
        apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ch", "namespace": NS},
               "type": "Opaque", "stringData": {"password": PASSWORD}})
        apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app", "namespace": NS},
               "type": "Opaque", "stringData": {"database-url": "postgres://p:p@pg:5432/posthog",
                                                "redis-url": "redis://redis:6379/",
                                                "secret-key": "e2e-secret-key",
                                                "encryption-salt-keys": "00beef0000beef0000beef0000beef00"}})
        apply({"apiVersion": "posthog.com/v1alpha1", "kind": "PostHog",
               "metadata": {"name": PH, "namespace": NS},
               "spec": {"version": VERSION,
                        "postgres": {"urlSecret": {"name": "app", "key": "database-url"}},
                        "redis": {"urlSecret": {"name": "app", "key": "redis-url"}},
                        "secretKey": {"name": "app", "key": "secret-key"},
                        "encryptionSaltKeys": {"name": "app", "key": "encryption-salt-keys"},
                        "zookeeper": {"replicas": 1},
                        "kafka": {"brokers": 1, "topics": {"partitions": 1}},
                        "clickhouse": {"shards": 2, "passwordSecret": {"name": "ch", "key": "password"}}}})
        # Rows through the Distributed table on two shards, in one
        # monthly partition, synchronously (every row is on its shard
        # when the INSERT returns).
        sql(0, "INSERT INTO posthog.writable_events (uuid, event, properties, timestamp, team_id, "
               "distinct_id, elements_chain, created_at, _timestamp, _offset) "
               "SELECT generateUUIDv4(), 'e', '{}', toDateTime('2026-08-01 00:00:00') + number * 60, 1, "
               "concat('d', toString(number)), '', now(), now(), number FROM numbers(%d)" % ROWS,
            "?insert_distributed_sync=1")

    def wait_synced(self, shards):
        return wait_for("clickhouseSchema.shards %d and SchemaReady" % shards, lambda: (lambda ph: ph if ph and (
            ph.get("status", {}).get("clickhouseSchema", {}).get("shards") == shards
            and (condition(ph, "SchemaReady") or {}).get("status") == "True") else None)(get("posthog", PH)),
            timeout=150)

    def check_job(self, job, shards, to):
        j = wait_for("Job " + job, lambda: get("job", job))
        ct = j["spec"]["template"]["spec"]["containers"][0]
        args = ct["args"]
        self.assertEqual(args[:3], ["reshard", "--shards", str(to)])
        self.assertEqual(args.count("--shard"), shards)
        self.assertIn("--progress-clickhouse", args)
        self.assertNotIn(PASSWORD, " ".join(args), "the password is on the command line")
        pw = [e for e in ct["env"] if e["name"] == "CLICKHOUSE_PASSWORD"][0]
        self.assertEqual(pw["valueFrom"]["secretKeyRef"], {"name": "ch", "key": "password"})
        self.assertEqual(j["metadata"]["ownerReferences"][0]["kind"], "PostHog")
        return j

    def test_01_two_to_three(self):
        self.wait_synced(2)
        self.assertIsNone(reshard().get("phase"), "a plan before any change")
        self.assertEqual(misplaced(2), 0)
        before = totals()
        # The rows whose shard changes: key % 2 != key % 3.
        moving = int(sql(0, "SELECT countIf(sipHash64(distinct_id) %% 2 != sipHash64(distinct_id) %% 3) "
                            "FROM %s" % everywhere(2)))
        patch_ph({"spec": {"clickhouse": {"shards": 3}}})
        plan = wait_for("status.reshard 2 -> 3", lambda: (lambda r: r if r.get("to") == 3 else None)(reshard()))
        self.assertEqual(plan["from"], 2)
        wait_for("StatefulSet of shard 2", lambda: get("statefulset", PH + "-clickhouse-2"))
        job = "%s-reshard-2-3-0" % PH
        self.check_job(job, 3, 3)
        ph = wait_for("Resharding True", lambda: (lambda ph: ph if (condition(ph, "Resharding") or {}).get(
            "status") == "True" else None)(get("posthog", PH)))
        # The Job is created before the status write of that reconcile
        # lands (or is retried after a conflict): wait for it.
        wait_for("status.reshard.job", lambda: reshard().get("job") == job)
        # ClickHouse loads the new remote_servers; then the pod runs, and
        # is killed after its first unit is verified (before its attach).
        topology(3)
        p, _ = run_pod(job, {"POSTHOG_RESHARD_CRASH_AT": "verified"}, finish=False)
        self.assertEqual(p.returncode, -9, p.stderr[-2000:])
        # The status follows the progress the process left in ClickHouse.
        mid = wait_for("a verified unit in status.reshard", lambda: (lambda r: r if any(
            u["state"] == "verified" for u in r.get("units", [])) else None)(reshard()))
        self.assertEqual(mid["phase"], "Running")
        self.assertGreater(mid["unitsTotal"], 0)
        self.assertLess(mid["unitsDone"], mid["unitsTotal"])
        self.assertEqual(mid["progressPhase"], "Running")
        c = condition(get("posthog", PH), "Resharding")
        self.assertEqual((c["status"], c["reason"]), ("True", "Running"))
        # The pod's process again: it resumes and finishes.
        p, _ = run_pod(job)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        done = wait_for("status.reshard Done", lambda: (lambda r: r if r.get("phase") == "Done" else None)(
            reshard()))
        self.assertEqual(done["unitsDone"], done["unitsTotal"])
        self.assertGreater(done["rowsMoved"], 0)
        self.assertTrue(all(u["state"] == "done" for u in done["units"]))
        ph = get("posthog", PH)
        c = condition(ph, "Resharding")
        self.assertEqual((c["status"], c["reason"]), ("False", "Done"))
        self.assertEqual(ph["status"]["clickhouseSchema"]["shards"], 3)
        self.assertTrue({"ReshardStarted", "ReshardDone"} <= event_reasons(), event_reasons())
        self.assertEqual(metric("posthog_reshard_rows_moved", namespace=NS, name=PH), done["rowsMoved"])
        self.assertEqual(metric("posthog_reshard_phase", namespace=NS, name=PH, phase="Done"), 1)
        # The rows: each where the new count puts it, none lost or doubled.
        self.assertEqual(misplaced(3), 0)
        self.assertEqual(totals(), before)
        self.assertGreater(int(sql(2, "SELECT count() FROM posthog.sharded_events")), 0)
        self.assertEqual(done["rowsMoved"], moving)

    def test_02_three_to_two_paused_and_resumed(self):
        self.wait_synced(3)
        before = totals()
        patch_ph({"spec": {"clickhouse": {"shards": 2}}})
        wait_for("status.reshard 3 -> 2", lambda: (lambda r: r if r.get("to") == 2 else None)(reshard()))
        job0 = "%s-reshard-3-2-0" % PH
        uid0 = self.check_job(job0, 3, 2)["metadata"]["uid"]
        # Pause: the Job goes, the plan and the shard stay.
        patch_ph({"spec": {"clickhouse": {"reshard": {"paused": True}}}})
        wait_for("Job %s gone" % job0, lambda: get("job", job0) is None)
        r = wait_for("phase Paused", lambda: (lambda r: r if r.get("phase") == "Paused" else None)(reshard()))
        self.assertEqual((r["from"], r["to"]), (3, 2))
        c = condition(get("posthog", PH), "Resharding")
        self.assertEqual((c["status"], c["reason"]), ("True", "Paused"))
        self.assertIsNotNone(get("statefulset", PH + "-clickhouse-2"), "the shard being emptied went")
        self.assertIn("ReshardPaused", event_reasons())
        # Resume: a new Job (normally the next attempt's name) picks the
        # plan up.
        patch_ph({"spec": {"clickhouse": {"reshard": {"paused": False}}}})
        job1 = wait_for("a new Job of the 3 -> 2 plan", lambda: next(
            (j["metadata"]["name"] for j in (get("jobs") or {"items": []})["items"]
             if j["metadata"]["name"].startswith(PH + "-reshard-3-2-")
             and j["metadata"]["uid"] != uid0 and not j["metadata"].get("deletionTimestamp")), None))
        self.check_job(job1, 3, 2)
        topology(2)
        p, _ = run_pod(job1)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        done = wait_for("status.reshard Done", lambda: (lambda r: r if r.get("phase") == "Done" else None)(
            reshard()), timeout=60)
        self.assertEqual(done["unitsDone"], done["unitsTotal"])
        # Shard 2 is empty, and only then its StatefulSet goes.
        self.assertEqual(sql(2, "SELECT count() FROM posthog.sharded_events"), "0")
        wait_for("StatefulSet of shard 2 removed", lambda: get("statefulset", PH + "-clickhouse-2") is None)
        ph = get("posthog", PH)
        self.assertEqual(ph["status"]["clickhouseSchema"]["shards"], 2)
        self.assertEqual(condition(ph, "Resharding")["status"], "False")
        self.assertEqual(misplaced(2), 0)
        self.assertEqual(totals(), before)


if __name__ == "__main__":
    unittest.main()

"""End-to-end tests of the backup API (PostHogBackup, PostHogBackupSchedule,
PostHogRestore) on the API server in KUBECONFIG, run by
hack/test.d/62-e2e-backup-kube.

What is real: the control plane (with CLUSTER=kube: kube-apiserver, the Job
controller, the scheduler placing the agent's pod beside the ClickHouse pod
that shares its volume claim), the operator, ClickHouse 18.16 and the S3
store (versitygw, checking every signature). What is simulated: kwok runs no
container; for the agent's image it only makes the pod Running
(hack/kube-cluster --manual-image). The AgentRunner below plays the
kubelet's part for the agent's Jobs: it runs the pod's own command (`posthog-operator backup-agent` with the Job's
arguments), with the environment the Job declares (the store's credentials
read from the Secret the Job names), against the local ClickHouse, whose
data directory stands for the mounted volume claim, and writes the exit code
to the pod's status. The operator fills the status from the manifests it
reads from the store, never from this runner.
Restore Jobs run the same way: the test drops the table, the restore Job's
agent restores it from the store, and the test compares the rows.
"""
import base64
import glob
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
NS = "e2e-backup"
CLUSTER = os.environ.get("E2E_CLUSTER", "kube")
BIN = os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator", "posthog-operator")
S3_ROOT = os.path.join(os.environ["S3_DIR"], "root")
TIMEOUT = 150


def kubectl(*args, check=True, input=None):
    p = subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def get(kind, name=None, selector=None):
    args = ["get", kind, "-o", "json"]
    if name:
        args.insert(2, name)
    if selector:
        args += ["-l", selector]
    p = kubectl(*args, check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def apply(obj):
    kubectl("apply", "-f", "-", input=json.dumps(obj))


def wait_for(what, fn, timeout=TIMEOUT, interval=0.5):
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


def sql(q):
    req = urllib.request.Request(os.environ["CLICKHOUSE_URL"] + "/", data=q.encode(), headers={
        "X-ClickHouse-User": os.environ["CLICKHOUSE_USER"],
        "X-ClickHouse-Key": os.environ["CLICKHOUSE_PASSWORD"]})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def metrics():
    """The operator's /metrics as {(name, frozenset(labels)): value}."""
    out = {}
    with urllib.request.urlopen(os.environ["E2E_METRICS_URL"], timeout=10) as r:
        for line in r.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            head, value = line.rsplit(" ", 1)
            name, _, rest = head.partition("{")
            labels = {}
            for part in rest.rstrip("}").split('",'):
                if "=" in part:
                    k, v = part.split("=", 1)
                    labels[k] = v.strip('"')
            out[(name, frozenset(labels.items()))] = float(value)
    return out


def metric(name, **labels):
    want = set(labels.items())
    for (n, ls), v in metrics().items():
        if n == name and want <= set(ls):
            return v
    return None


def store_objects():
    root = os.path.join(S3_ROOT, "backups")
    return sorted(os.path.relpath(p, root) for p in glob.glob(root + "/**", recursive=True)
                  if os.path.isfile(p))


def manifest(name, shard=0):
    with open(os.path.join(S3_ROOT, "backups", "e2e", "backups", name,
                           "shard-%d.json" % shard)) as f:
        return json.load(f)


def rfc3339(s):
    return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def secret(name, data):
    apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
           "type": "Opaque",
           "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})


def store(secret_name="s3-creds"):
    return {"endpoint": os.environ["S3_ENDPOINT"], "bucket": "backups", "prefix": "e2e",
            "region": os.environ.get("S3_REGION", "us-east-1"),
            "credentials": {"secretName": secret_name}}


class AgentRunner(threading.Thread):
    """Plays the kubelet for the agent's pods (kwok leaves them Running:
    hack/kube-cluster --manual-image): for each new pod of a backup Job, once
    the scheduler placed it and it runs, it runs the container's command
    (`posthog-operator backup-agent` with the Job's arguments) with the
    environment the pod declares, the Secret values read from the Secrets it
    names, then writes the pod's outcome (phase, exit code) to its status,
    from which the Job controller completes or fails the Job."""

    def __init__(self):
        super().__init__(daemon=True)
        self.results = {}
        self.lock = threading.Lock()
        self.proc = None

    def run_pod(self, name):
        pod = wait_for("pod %s Running" % name, lambda: (lambda p: p if p and p.get(
            "status", {}).get("phase") == "Running" else None)(get("pod", name)), timeout=60)
        ct = pod["spec"]["containers"][0]
        env = dict(os.environ)
        secrets = {s["metadata"]["name"]: s for s in get("secrets")["items"]}
        for e in ct.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                env[e["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
        # The pod's CLICKHOUSE_URL is the replica's Service; the operator's
        # --connect-to maps that name to the local server, and so does this.
        env["CLICKHOUSE_URL"] = os.environ["CLICKHOUSE_URL"]
        env["CLICKHOUSE_USER"] = os.environ["CLICKHOUSE_USER"]
        mount = ct["volumeMounts"][0]["mountPath"]
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        p = subprocess.run([BIN] + ct["args"] + ["--clickhouse-path", os.environ["E2E_CLICKHOUSE_DATA"]],
                           env=env, capture_output=True, text=True, timeout=120)
        last = (p.stdout.strip().splitlines() or [""])[-1]
        term = {"exitCode": p.returncode if p.returncode >= 0 else 128 - p.returncode,
                "reason": "Completed" if p.returncode == 0 else "Error",
                "startedAt": started,
                "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if p.returncode != 0:
            term["message"] = last[-4000:]  # FallbackToLogsOnError
        status = {"status": {
            "phase": "Succeeded" if p.returncode == 0 else "Failed",
            "containerStatuses": [{"name": ct["name"], "image": ct["image"], "imageID": "",
                                   "ready": False, "started": False, "restartCount": 0,
                                   "state": {"terminated": term}}]}}
        kubectl("patch", "pod", name, "--subresource=status", "--type=merge",
                "-p", json.dumps(status))
        return {"rc": p.returncode, "out": p.stdout, "err": p.stderr[-3000:], "mount": mount,
                "args": ct["args"], "node": pod["spec"]["nodeName"]}

    def one(self, name, job):
        try:
            res = self.run_pod(name)
        except Exception as e:  # reported by the test that waits for it
            res = {"rc": -1, "out": "", "err": "runner: %r" % e, "mount": None, "args": None}
        with self.lock:
            self.results[job] = res

    def run(self):
        self.proc = subprocess.Popen(
            ["kubectl", "-n", NS, "get", "pods", "-w", "--no-headers",
             "-l", "app.kubernetes.io/component=backup-agent",
             "-o", "custom-columns=NAME:.metadata.name,JOB:.metadata.labels.job-name"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started = set()
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2 and parts[0] not in started:
                started.add(parts[0])
                threading.Thread(target=self.one, args=tuple(parts), daemon=True).start()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def result(self, job):
        with self.lock:
            return self.results.get(job)


RUNNER = AgentRunner()
ROWS = 20000


class BackupE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
        with open(os.path.join(TOP, "examples", "minimal.yaml")) as f:
            kubectl("apply", "-f", "-", input=f.read())
        secret("s3-creds", {"AWS_ACCESS_KEY_ID": os.environ["S3_ACCESS_KEY"],
                            "AWS_SECRET_ACCESS_KEY": os.environ["S3_SECRET_KEY"]})
        secret("s3-wrong", {"AWS_ACCESS_KEY_ID": os.environ["S3_ACCESS_KEY"],
                            "AWS_SECRET_ACCESS_KEY": "not-the-secret"})
        sql("CREATE DATABASE IF NOT EXISTS posthog")
        sql("CREATE TABLE IF NOT EXISTS posthog.e2e_rows (id UInt64, v String) "
            "ENGINE = MergeTree ORDER BY id")
        sql("INSERT INTO posthog.e2e_rows SELECT number, toString(number) FROM numbers(%d)" % ROWS)
        RUNNER.start()

    @classmethod
    def tearDownClass(cls):
        RUNNER.stop()

    def backup(self, name, secret_name="s3-creds", **spec):
        apply({"apiVersion": "posthog.com/v1alpha1", "kind": "PostHogBackup",
               "metadata": {"name": name, "namespace": NS},
               "spec": dict({"posthog": {"name": "posthog"}, "store": store(secret_name)}, **spec)})

    def final(self, kind, name):
        return wait_for("%s %s Completed or Failed" % (kind, name), lambda: (lambda o: o if o and o.get(
            "status", {}).get("phase") in ("Completed", "Failed") else None)(get(kind, name)))

    def test_01_backup_now(self):
        self.backup("now-1")
        b = self.final("posthogbackup", "now-1")
        run = RUNNER.result("now-1-s0")
        self.assertIsNotNone(run, "the agent ran as Job now-1-s0")
        self.assertEqual(run["rc"], 0, run["err"])
        self.assertEqual(b["status"]["phase"], "Completed", (b["status"], run))
        self.assertEqual(run["mount"], "/var/lib/clickhouse")
        self.assertEqual(run["args"][:4], ["backup-agent", "backup", "--name", "now-1"])
        m = manifest("now-1")
        st = b["status"]
        # The status is the manifest's, read from the store by the operator.
        self.assertEqual(st["bytes"], m["bytes"])
        self.assertEqual(st["parts"], m["parts"])
        self.assertEqual(st["rows"], ROWS)
        self.assertGreaterEqual(st["partsUploaded"], 1)
        self.assertEqual(st["completedAt"], m["finishedAt"])
        self.assertEqual(st["shards"][0]["job"], "now-1-s0")
        # The example PostHog has one replica per shard, Ready: the choice
        # is replica 0, recorded in the status and on the Job.
        self.assertEqual((st["shards"][0]["replica"], st["shards"][0]["pod"]),
                         (0, "posthog-clickhouse-0-0"))
        self.assertEqual(condition(b, "Completed")["status"], "True")
        self.assertEqual(condition(b, "StoreAccessible")["status"], "True")
        self.assertEqual(json.loads(run["out"].strip().splitlines()[-1])["bytes"], m["bytes"])
        job = get("job", "now-1-s0")
        self.assertEqual(job["metadata"]["ownerReferences"][0]["kind"], "PostHogBackup")
        self.assertEqual(job["metadata"]["annotations"]["posthog.com/clickhouse-replica"], "0")
        spec = job["spec"]["template"]["spec"]
        self.assertEqual(spec["volumes"][0]["persistentVolumeClaim"]["claimName"],
                         "data-posthog-clickhouse-0-0")
        # The real scheduler put the agent's pod on the node of the
        # ClickHouse pod whose ReadWriteOnce claim it shares (of 3 nodes).
        ch = get("pod", "posthog-clickhouse-0-0")
        self.assertEqual(run["node"], ch["spec"]["nodeName"])
        ts = wait_for("the last-success metric", lambda: metric(
            "posthog_backup_last_success_timestamp_seconds", namespace=NS, posthog="posthog"))
        self.assertEqual(ts, rfc3339(m["finishedAt"]))
        self.assertEqual(metric("posthog_backups_total", namespace=NS, posthog="posthog",
                                result="completed"), 1)

    def test_02_wrong_credentials(self):
        before = store_objects()
        self.assertTrue(before)
        self.backup("bad-1", secret_name="s3-wrong", retention="1s")
        b = self.final("posthogbackup", "bad-1")
        self.assertEqual(b["status"]["phase"], "Failed")
        c = condition(b, "StoreAccessible")
        self.assertEqual((c["status"], c["reason"]), ("False", "AccessDenied"), c)
        self.assertIn("403", c["message"])
        self.assertIn("SignatureDoesNotMatch", c["message"])
        self.assertIn("403", b["status"]["error"])
        self.assertIsNone(get("job", "bad-1-s0"), "no Job runs with refused credentials")
        self.assertEqual(store_objects(), before, "nothing was deleted from (or added to) the store")
        self.assertEqual(metric("posthog_backups_total", namespace=NS, posthog="posthog",
                                result="failed"), 1)

    def test_03_api_validation(self):
        bad = {"apiVersion": "posthog.com/v1alpha1", "kind": "PostHogBackup",
               "metadata": {"name": "invalid", "namespace": NS},
               "spec": {"posthog": {"name": "posthog"}, "store": store(), "retention": "7 days"}}
        p = kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("spec.retention", p.stderr)
        apply({"apiVersion": "posthog.com/v1alpha1", "kind": "PostHogBackupSchedule",
               "metadata": {"name": "badcron", "namespace": NS},
               "spec": {"schedule": "61 * * * *", "posthog": {"name": "posthog"}, "store": store()}})
        s = wait_for("Valid=False", lambda: (lambda c: c if c and c["status"] == "False" else None)(
            condition(get("posthogbackupschedule", "badcron"), "Valid")))
        self.assertEqual(s["message"], "spec.schedule: minute: 61 is outside 0-59")
        self.assertFalse(get("posthogbackups", selector="posthog.com/backup-schedule=badcron")["items"])

    def test_04_schedule(self):
        apply({"apiVersion": "posthog.com/v1alpha1", "kind": "PostHogBackupSchedule",
               "metadata": {"name": "every20", "namespace": NS},
               "spec": {"schedule": "*/20 * * * * *", "posthog": {"name": "posthog"},
                        "store": store(), "retention": "1h", "keepMin": 2}})

        def done():
            items = get("posthogbackups", selector="posthog.com/backup-schedule=every20")["items"]
            ok = [b for b in items if b.get("status", {}).get("phase") == "Completed"]
            return sorted(ok, key=lambda b: b["metadata"]["name"]) if len(ok) >= 2 else None
        backups = wait_for("two scheduled backups Completed", done, timeout=150)
        self.assertEqual(metric("posthog_backup_schedule_interval_seconds", namespace=NS,
                                posthog="posthog", schedule="every20"), 20)
        kubectl("patch", "posthogbackupschedule", "every20", "--type", "merge",
                "-p", '{"spec":{"suspend":true}}')
        created = sorted(get("posthogbackups", selector="posthog.com/backup-schedule=every20")["items"],
                         key=lambda b: b["metadata"]["name"])
        slots = []
        for b in created:
            slot = rfc3339(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(
                b["metadata"]["name"].rsplit("-", 1)[1], "%Y%m%d%H%M%S")))
            at = rfc3339(b["metadata"]["creationTimestamp"])
            # On time: every slot's backup created within 5 s after the slot
            # (on a loaded 2-core machine).
            self.assertGreaterEqual(at, slot)
            self.assertLessEqual(at - slot, 5, b["metadata"])
            self.assertEqual(b["spec"]["retention"], "1h")
            slots.append(slot)
        # One backup for every slot, none skipped or doubled.
        self.assertEqual([b - a for a, b in zip(slots, slots[1:])], [20] * (len(slots) - 1))
        for b in backups:
            self.assertEqual(b["status"]["bytes"], manifest(b["metadata"]["name"])["bytes"])
        # Nothing changed in ClickHouse between them: the later one is all
        # parts an earlier backup stored.
        self.assertEqual(backups[1]["status"]["partsUploaded"], 0)
        for b in backups[:2]:
            run = RUNNER.result(b["metadata"]["name"] + "-s0")
            self.assertEqual(run["rc"], 0, run["err"])
        sched = wait_for("lastSuccessfulBackup", lambda: (lambda s: s if s.get("status", {}).get(
            "lastSuccessfulBackup") else None)(get("posthogbackupschedule", "every20")))
        newest = max((b for b in get("posthogbackups", selector="posthog.com/backup-schedule=every20")["items"]
                      if b.get("status", {}).get("phase") == "Completed"),
                     key=lambda b: b["status"]["completedAt"])
        self.assertEqual(condition(sched, "Valid")["status"], "True")
        def newest_completed():
            return max(rfc3339(b["status"]["completedAt"]) for b in get("posthogbackups")["items"]
                       if b.get("status", {}).get("phase") == "Completed")
        # The metric is the newest completedAt (a backup of the suspended
        # schedule may still finish meanwhile, hence the wait).
        wait_for("the metric follows the newest backup", lambda: metric(
            "posthog_backup_last_success_timestamp_seconds", namespace=NS,
            posthog="posthog") == newest_completed())
        self.assertGreaterEqual(newest_completed(), rfc3339(newest["status"]["completedAt"]))
        self.assertGreaterEqual(metric("posthog_backups_total", namespace=NS, posthog="posthog",
                                       result="completed"), 3)

    def test_05_restore(self):
        def restore(name, backup):
            apply({"apiVersion": "posthog.com/v1alpha1", "kind": "PostHogRestore",
                   "metadata": {"name": name, "namespace": NS},
                   "spec": {"posthog": {"name": "posthog"}, "store": store(),
                            "backupName": backup, "replayKafka": True}})
        restore("restore-missing", "no-such-backup")
        r = self.final("posthogrestore", "restore-missing")
        self.assertEqual(r["status"]["phase"], "Failed")
        self.assertEqual(condition(r, "Completed")["reason"], "BackupNotFound")
        self.assertIn("has no manifest", r["status"]["error"])
        self.assertIsNone(get("job", "restore-missing-s0"))
        # A real restore: drop the table, restore backup now-1 through the
        # operator, compare count and checksum.
        check = "SELECT count(), sum(cityHash64(id, v)) FROM posthog.e2e_rows"
        before = sql(check)
        self.assertEqual(before.split()[0], str(ROWS))
        sql("DROP TABLE posthog.e2e_rows")
        restore("restore-1", "now-1")
        # replayKafka: four steps, each a Job per shard (one for the
        # offsets) started once the step before has completed: the data,
        # the consumer groups' offsets once, the Kafka tables, the views.
        steps = [("restore-1-s0", ["--stage", "data"], "data"),
                 ("restore-1-offsets", ["--shards", "1"], "offsets"),
                 ("restore-1-kafka-s0", ["--stage", "kafka"], "kafka"),
                 ("restore-1-views-s0", ["--stage", "views"], "views")]
        for name, extra, step in steps:
            job = wait_for("the restore Job " + name, lambda: get("job", name))
            args = job["spec"]["template"]["spec"]["containers"][0]["args"]
            verb = "reset-offsets" if step == "offsets" else "restore"
            self.assertEqual(args, ["backup-agent", verb, "--name", "now-1"] + extra)
            self.assertEqual(job["metadata"]["labels"]["posthog.com/restore-step"], step)
        r = self.final("posthogrestore", "restore-1")
        for name, _, _ in steps:
            run = RUNNER.result(name)
            self.assertEqual(run["rc"], 0, run["err"] + run["out"])
        self.assertEqual(r["status"]["phase"], "Completed", r["status"])
        self.assertEqual(r["status"]["step"], "done", r["status"])
        self.assertEqual(r["status"]["offsets"]["phase"], "Completed", r["status"])
        self.assertEqual(r["status"]["shards"][0]["kafka"]["phase"], "Completed", r["status"])
        self.assertEqual(r["status"]["shards"][0]["views"]["phase"], "Completed", r["status"])
        self.assertEqual(condition(r, "OffsetsReset")["status"], "True")
        # Each step's Job was created only after the one before completed.
        created = [rfc3339(get("job", n)["metadata"]["creationTimestamp"]) for n, _, _ in steps]
        finished = [rfc3339(get("job", n)["status"]["completionTime"]) for n, _, _ in steps]
        for i in range(3):
            self.assertLessEqual(finished[i], created[i + 1])
        self.assertEqual(sql(check), before)


if __name__ == "__main__":
    unittest.main()

"""End-to-end test of the upgrade plan on ClickHouse (docs/upgrades.md,
issue 13), run by hack/test.d/64-e2e-upgrade-kube on the real control plane.

What is real: the control plane (kube-apiserver, the StatefulSet controller
that recreates a deleted pod), the operator with its ClickHouse gate, and
four ClickHouse 18.16 servers on Debian's ZooKeeper standing for the
PostHog's two shards of two replicas (the operator reaches pod
"<ph>-clickhouse-<s>-<r>" on server s*2+r through --connect-to). What is
simulated: kwok runs no container. Kubelet below plays the kubelet for the
ClickHouse pods: when a pod is being deleted it stops that pod's server
(hack/clickhouse down) and starts it again, as a kubelet would stop the
container and start the recreated pod's. kwok marks the recreated pod
Ready at once, so the operator's gate, not Ready, sees the server come
back.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

NS = os.environ["E2E_NS"]
PH = os.environ["E2E_PH"]
PASSWORD = os.environ["E2E_PASSWORD"]
URLS = os.environ["E2E_URLS"].split()
CH_UP = os.environ["E2E_CH_UP"]
OPERATOR_LOG = os.environ["E2E_OPERATOR_LOG"]
DIR = os.environ["E2E_DIR"]
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
TIMEOUT = 150
PODS = ["%s-clickhouse-%d-%d" % (PH, n // 2, n % 2) for n in range(4)]
# Each shard's test table: ReplicatedMergeTree on the shard's path, one row
# per id.
TABLE = "default.upgrade_rows"
VERSION = "03bc2ff27ab6730aef6b418718014e523e206fd3"


def kubectl(*args, check=True, input=None):
    p = subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def get(kind, name=None):
    p = kubectl("get", kind, "-o", "json", *([name] if name else []), check=False)
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


def upgrade():
    return (get("posthog", PH) or {}).get("status", {}).get("upgrade") or {}


def sql(n, q, timeout=30):
    req = urllib.request.Request(URLS[n], data=q.encode(), headers={
        "X-ClickHouse-User": "admin", "X-ClickHouse-Key": PASSWORD})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode().strip()


def answers(n):
    try:
        return sql(n, "SELECT 1", timeout=5) == "1"
    except OSError:
        return False


def uids():
    return {p: (get("pod", p) or {}).get("metadata", {}).get("uid") for p in PODS}


def restarts_since(mark):
    """The ClickHouse pods the operator restarted since mark (an offset in
    its log), in order."""
    with open(OPERATOR_LOG) as f:
        f.seek(mark)
        return [ln.split("upgrade: restarting ", 1)[1].split()[0] for ln in f
                if "upgrade: restarting %s-clickhouse-" % PH in ln]


class Kubelet:
    """Plays the kubelet for the ClickHouse pods, from a watch. When a pod
    is being deleted it notes which other servers answer and which are
    down, stops the pod's server (hack/clickhouse down waits until it has
    exited) and starts it again in the background. Only a pod's first
    deletion restarts its server: a later one is kwok's deletion by name of
    the pod the StatefulSet controller just recreated, which a kubelet,
    deleting with the pod's UID as a precondition, never makes
    (docs/upgrades.md, "The extra pod deletion"). Restarting the server
    again for it took it down after the plan had seen it back and healthy,
    and made the plan's next restart look like two servers down at once
    (a clean-clone CI run of 2026-12-03); `repeats` keeps those
    deletions."""

    def __init__(self):
        self.seen, self.handled, self.listed = [], set(), set()
        self.repeats, self.restarted = [], set()
        self.down = set()
        self.lock = threading.Lock()
        # A server's stop waits for its previous start, so that one data
        # directory never has two servers.
        self.server_locks = [threading.Lock() for _ in PODS]
        self.ups = []
        self.proc = subprocess.Popen(
            ["kubectl", "-n", NS, "get", "pods", "-l",
             "app.kubernetes.io/instance=%s,app.kubernetes.io/name=clickhouse" % PH,
             "--watch", "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.watching = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        if not self.watching.wait(60):
            raise AssertionError("the pod watch did not start")

    def events(self):
        dec, buf = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buf += line
            try:
                ev, end = dec.raw_decode(buf.lstrip())
            except ValueError:
                continue
            buf = buf.lstrip()[end:]
            yield ev

    def run(self):
        for ev in self.events():
            meta = ev.get("object", {}).get("metadata", {})
            self.listed.add(meta.get("name"))
            if self.listed >= set(PODS):
                self.watching.set()
            going = ev.get("type") == "DELETED" or meta.get("deletionTimestamp")
            if not going or meta.get("uid") in self.handled or meta.get("name") not in PODS:
                continue
            self.handled.add(meta["uid"])
            if meta["name"] in self.restarted:
                self.repeats.append((time.monotonic(), meta["name"]))
                continue
            self.restarted.add(meta["name"])
            n = PODS.index(meta["name"])
            # A kubelet stops the container before the pod object goes, so
            # the recreated pod never meets the old server. kwok removes the
            # object at once and marks the recreated pod Ready 0.5 s later:
            # signal the server first, before anything slower (seen in a
            # clean-clone run: probing the others first let the gate read
            # the old, still running server and pass).
            self.terminate(n)
            with self.lock:
                # (n is not among the others probed below.)
                restarting = set(self.down) - {n}
                self.down.add(n)
            others = {PODS[m]: answers(m) for m in range(4) if m != n}
            # Down: a server this kubelet stopped that does not answer yet
            # (its start script may still be running after it answers).
            already_down = sorted(PODS[m] for m in restarting if not others[PODS[m]])
            self.seen.append((time.monotonic(), meta["name"], already_down, others))
            self.server_locks[n].acquire()
            subprocess.run([os.path.join(TOP, "hack", "clickhouse"), "down", "--dir",
                            os.path.join(DIR, "ch%d" % n)], capture_output=True, timeout=120)
            t = threading.Thread(target=self.up, args=(n,), daemon=True)
            self.ups.append(t)
            t.start()

    def terminate(self, n):
        """SIGTERM to server n (hack/clickhouse's pid file, only while
        that process is still the server of that directory)."""
        d = os.path.join(DIR, "ch%d" % n)
        try:
            with open(os.path.join(d, "pid")) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if os.path.join(d, "config.xml").encode() not in f.read():
                    return
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass  # not running: hack/clickhouse down below finds that too

    def up(self, n):
        try:
            subprocess.run([CH_UP, str(n)], capture_output=True, timeout=180)
        finally:
            with self.lock:
                self.down.discard(n)
            self.server_locks[n].release()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.thread.join(timeout=60)
        for t in self.ups:
            t.join(timeout=180)


class Inserter:
    """One per shard: inserts one row at a time, each with its own id,
    into one replica of the shard and then the other, and retries a row
    whose INSERT failed on the other replica until one acknowledges it. A
    retried INSERT of the same block is written once: replicated tables
    deduplicate identical blocks, whichever replica receives them
    (ClickHouse docs/en/operations/table_engines/replication.md). Keeps
    every acknowledged id and every failed attempt with its time."""

    def __init__(self, shard, first_id):
        self.shard, self.next_id = shard, first_id
        self.acked, self.failed = [], []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        replica = 0
        while not self.stopping.is_set():
            row = self.next_id
            self.next_id += 1
            while True:
                n = self.shard * 2 + replica
                try:
                    sql(n, "INSERT INTO %s (id, shard) VALUES (%d, %d)" % (TABLE, row, self.shard),
                        timeout=10)
                    self.acked.append(row)
                    break
                except (OSError, urllib.error.HTTPError) as e:
                    self.failed.append((time.monotonic(), PODS[n], str(e)[:120]))
                    replica = 1 - replica
                    time.sleep(0.05)
                    if len(self.failed) > 2000:
                        return  # both replicas gone for good: the count says so
            replica = 1 - replica
            time.sleep(0.25)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=120)


class UpgradeE2E(unittest.TestCase):
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
                        "clickhouse": {"shards": 2, "replicasPerShard": 2,
                                       "passwordSecret": {"name": "ch", "key": "password"}}}})
        for n in range(4):
            sql(n, "CREATE TABLE IF NOT EXISTS %s (id UInt64, shard UInt8) ENGINE = "
                   "ReplicatedMergeTree('/clickhouse/tables/{shard}/upgrade_rows', '{replica}') "
                   "ORDER BY id" % TABLE)

    def test_01_two_shards_two_replicas_one_replica_at_a_time(self):
        t0 = time.monotonic()
        ph = wait_for("the PostHog Ready", lambda: (lambda p: p if p and p.get("status", {}).get(
            "phase") == "Ready" else None)(get("posthog", PH)), timeout=240)
        self.assertEqual(condition(ph, "ClickHouseReady")["status"], "True")
        print("\n  the PostHog Ready after %.1fs" % (time.monotonic() - t0), file=sys.stderr)
        before = uids()
        self.assertTrue(all(before.values()), before)
        sts = get("statefulset", PH + "-clickhouse-0")
        self.assertEqual(sts["spec"]["updateStrategy"]["type"], "OnDelete")
        image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
        tag = image.rsplit(":", 1)[1]
        kubelet = Kubelet()
        inserters = [Inserter(s, s * 1000000 + 1) for s in (0, 1)]
        fetches_stopped = False
        try:
            # 1. A backlog on replica 1 of shard 0: it fetches no part, so
            #    the parts inserted on replica 0 wait in its queue.
            sql(1, "SYSTEM STOP FETCHES %s" % TABLE)
            fetches_stopped = True
            wait_for("a replication backlog on %s" % PODS[1], lambda: int(sql(
                1, "SELECT count() FROM system.replication_queue")) > 0, timeout=60)
            mark = os.path.getsize(OPERATOR_LOG)
            t_patch = time.monotonic()
            patch_ph({"spec": {"clickhouse": {"image": {"tag": tag + "-13ch"}}}})
            # (Past 10 s the backlog shows as absolute_delay first.)
            up = wait_for("the plan waiting on the backlog", lambda: (lambda u: u if u.get(
                "reason") == "WaitingForHealth" and PODS[1] in u.get("message", "") and (
                    "replication_queue" in u["message"] or "absolute_delay" in u["message"])
                else None)(upgrade()), timeout=90)
            t_held = time.monotonic()
            print("  status.upgrade %.1fs after the image change: %s: %s" % (
                t_held - t_patch, up["reason"], up["message"]), file=sys.stderr)
            self.assertEqual(up["phase"], "Progressing")
            # It holds: no pod is touched while the backlog stays.
            for _ in range(4):
                time.sleep(1)
                held = upgrade()
                self.assertEqual((held.get("phase"), held.get("reason")), ("Progressing", "WaitingForHealth"),
                                 held)
            self.assertEqual(uids(), before, "no ClickHouse pod restarted while a replica has a backlog")
            self.assertEqual(restarts_since(mark), [])
            self.assertEqual(kubelet.seen, [])
            queued = int(sql(1, "SELECT count() FROM system.replication_queue"))
            self.assertGreater(queued, 0)
            # 2. The fetches resume; the backlog drains; the plan goes on.
            t_release = time.monotonic()
            sql(1, "SYSTEM START FETCHES %s" % TABLE)
            fetches_stopped = False
            wait_for("the plan Complete", lambda: upgrade().get("phase") == "Complete", timeout=240)
            after = uids()
            self.assertTrue(all(after[p] and after[p] != before[p] for p in PODS),
                            "every ClickHouse pod restarted: %r -> %r" % (before, after))
            order = restarts_since(mark)
            self.assertEqual(order, PODS, "one replica at a time, shard by shard")
            wait_for("every server back", lambda: all(answers(n) for n in range(4)), timeout=120)
            t_first = kubelet.seen[0][0]
            print("  held %.1fs from the image change; the first restart %.1fs after START FETCHES"
                  " (%d parts were queued)" % (t_first - t_patch, t_first - t_release, queued),
                  file=sys.stderr)
            self.assertGreater(t_first, t_release, "the first restart after the backlog drained")
            print("  deletions (pod, already down, others answering): %r; kwok's repeats: %r" % (
                [(s[1], s[2], s[3]) for s in kubelet.seen], [r[1] for r in kubelet.repeats]),
                file=sys.stderr)
            # The operator's deletions are each pod's first (the Kubelet
            # above); the order above comes from the operator's own log.
            self.assertEqual([s[1] for s in kubelet.seen], PODS)
            for _, pod, already_down, others in kubelet.seen:
                # One replica at a time: no other server down, and the
                # shard's other replica serving.
                self.assertEqual(already_down, [], "%s deleted while %s down" % (pod, already_down))
                self.assertTrue(all(others.values()), "%s deleted while %r" % (pod, others))
        finally:
            if fetches_stopped:
                sql(1, "SYSTEM START FETCHES %s" % TABLE)
            for i in inserters:
                i.stop()
            kubelet.stop()
        # 3. No row lost: both replicas of each shard hold every row the
        #    inserter got acknowledged, once.
        for s, ins in enumerate(inserters):
            acked = len(set(ins.acked))
            spans = {}
            for t, p, _ in ins.failed:
                spans.setdefault(p, [t, t, 0])
                spans[p][1] = t
                spans[p][2] += 1
            print("  shard %d: %d rows acknowledged; failed attempts (retried on the other replica): %s" % (
                s, acked, ", ".join("%s %d from +%.1fs to +%.1fs" % (p, v[2], v[0] - t_patch, v[1] - t_patch)
                                    for p, v in spans.items()) or "none"), file=sys.stderr)
            self.assertGreater(acked, 100)
            for r in (0, 1):
                n = s * 2 + r
                q = "SELECT count(), uniqExact(id) FROM %s WHERE shard = %d" % (TABLE, s)
                want = "%d\t%d" % (acked, acked)
                # The last parts may still be on their way to this replica.
                deadline = time.time() + 60
                while True:
                    got = sql(n, q)
                    if got == want or time.time() > deadline:
                        break
                    time.sleep(1)
                print("    %s: count, distinct ids: %s" % (PODS[n], got.replace("\t", ", ")),
                      file=sys.stderr)
                self.assertEqual(got, want, "%s: count and distinct ids against %d acknowledged"
                                 % (PODS[n], acked))
                ids = sql(n, "SELECT groupArray(id) FROM (SELECT id FROM %s WHERE shard = %d ORDER BY id)"
                          % (TABLE, s))
                self.assertEqual(json.loads(ids), sorted(ins.acked), "the rows are the acknowledged ones")


if __name__ == "__main__":
    unittest.main()

"""Chaos soak of the PostHog operator against the local API server.

Run through hack/soak (which sets PATH and PYTHON); see docs/reliability.md.
It starts a ClickHouse and a local API server (hack/lib.sh's stack), two
operator replicas with leader election, one PostHog, and then, for
--duration seconds, changes the spec and injects faults at random while it
checks invariants. When the faults stop it waits for the PostHog to be
Ready, checks the end state, prints a summary and exits 1 on any violation.

Each operator process authenticates with its own client certificate
(CN soak-<replica>-<n>), so the API server's request log tells which
process made each write.
"""
import argparse
import base64
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

# Ports from below the ephemeral range (hack/freeport.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from freeport import free_port  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "soak"
PH = "soak"
LEASE = "posthog-operator-leader"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def log(msg):
    print("soak %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Soak:
    def __init__(self, opts):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.dir = tempfile.mkdtemp(prefix="soak.", dir=opts.dir)
        self.cluster = os.path.join(self.dir, "cluster")
        self.ch_dir = os.path.join(self.dir, "clickhouse")
        self.env = dict(os.environ, LOCAL_CLUSTER_DIR=self.cluster)
        self.replicas = {}      # label -> {"proc", "gen", "cn", "metrics"}
        self.reconciles = {}    # cn -> last reconcile count scraped
        self.faults = {}        # kind -> count
        self.changes = 0
        self.kills = 0
        self.violations = []
        self.log_offset = 0
        self.writers_done = set()
        self.last_writer = None
        self.job_creations = {}  # job name -> creations since the operator last deleted it
        self.jobs_created = 0
        self.pvcs = set()
        self.error_fault_until = 0.0
        self.last_fault = time.time()
        self.quiet = False

    # ---- the stack ---------------------------------------------------------

    def run(self, *args, check=True, timeout=120, input=None):
        p = subprocess.run(args, capture_output=True, text=True, env=self.env,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(args), p.stderr.strip()[-500:]))
        return p

    def kubectl(self, *args, check=True, input=None, tries=10):
        """kubectl with retries: the API server may be restarting."""
        for i in range(tries):
            try:
                return self.run("kubectl", "--kubeconfig", self.kubeconfig, *args,
                                check=check, input=input, timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                if i == tries - 1:
                    raise
                last = e
                time.sleep(1)
        raise last

    def get(self, *args):
        return json.loads(self.kubectl("get", "-n", NS, "-o", "json", *args).stdout)

    def up(self):
        log("stack in %s" % self.dir)
        out = self.run(os.path.join(TOP, "hack/clickhouse"), "up", "--dir", self.ch_dir,
                       "--port", str(free_port()), "--tcp-port", str(free_port()),
                       "--interserver-port", str(free_port()), "--password", "change-me").stdout
        self.ch = dict(re.findall(r"^(CLICKHOUSE_\w+)=(.*)$", out, re.M))
        self.ch = {k: v.strip("'\"") for k, v in self.ch.items()}
        self.run(os.path.join(TOP, "hack/clickhouse"), "sql", "--dir", self.ch_dir,
                 os.path.join(TOP, "hack/clickhouse-base-schema.sql"))
        self.run(os.path.join(TOP, "hack/local-cluster"), "up", "--port", str(free_port()),
                 "--proxy", "*:8123=127.0.0.1:%s" % self.ch["CLICKHOUSE_URL"].rsplit(":", 1)[1],
                 "--ready-delay", "0.5", "--job-duration", "1")
        self.kubeconfig = os.path.join(self.cluster, "kubeconfig")
        self.kubectl("apply", "--server-side", "-f", os.path.join(TOP, "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd/posthogs.posthog.com",
                     "--timeout=30s")
        self.kubectl("create", "namespace", NS)
        with open(os.path.join(TOP, "examples", "minimal.yaml")) as f:
            manifest = f.read().replace("name: posthog\n", "name: %s\n" % PH)
        self.kubectl("apply", "-n", NS, "-f", "-", input=manifest)
        self.kubectl("patch", "-n", NS, "posthog", PH, "--type", "merge", "-p",
                     json.dumps({"spec": {"buckets": {"count": 2}}}))
        for label in self.o.replicas:
            self.start(label)

    def down(self):
        live = [r["proc"] for r in self.replicas.values()
                if "proc" in r and r["proc"].poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        for p in live:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.run(os.path.join(TOP, "hack/local-cluster"), "down", check=False)
        self.run(os.path.join(TOP, "hack/clickhouse"), "down", "--dir", self.ch_dir, check=False)

    # ---- operator replicas -------------------------------------------------

    def client_cert(self, cn):
        """A kubeconfig for cn (group system:masters), signed by the local CA."""
        pki = os.path.join(self.cluster, "pki")
        key, crt = (os.path.join(self.dir, cn + s) for s in (".key", ".crt"))
        self.run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", key, "-out", key + ".csr", "-subj", "/O=system:masters/CN=" + cn)
        self.run("openssl", "x509", "-req", "-in", key + ".csr", "-CA", os.path.join(pki, "ca.crt"),
                 "-CAkey", os.path.join(pki, "ca.key"), "-CAcreateserial", "-out", crt, "-days", "2")
        with open(self.kubeconfig) as f:
            server = re.search(r"\bserver\"?:\s*\"?([^\"\s,]+)", f.read()).group(1)

        def b64(path):
            with open(path, "rb") as f:
                return base64.b64encode(f.read()).decode()
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "soak",
               "clusters": [{"name": "local", "cluster": {
                   "server": server, "certificate-authority-data": b64(os.path.join(pki, "ca.crt"))}}],
               "users": [{"name": cn, "user": {"client-certificate-data": b64(crt),
                                               "client-key-data": b64(key)}}],
               "contexts": [{"name": "soak", "context": {"cluster": "local", "user": cn}}]}
        path = os.path.join(self.dir, cn + ".kubeconfig")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def start(self, label):
        r = self.replicas.setdefault(label, {"gen": 0})
        r["gen"] += 1
        r["cn"] = "soak-%s-%d" % (label, r["gen"])
        r["metrics"] = free_port()
        binary = os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator/posthog-operator")
        args = [binary, "--kubeconfig", self.client_cert(r["cn"]), "--clickhouse-access", "proxy",
                "--metrics-bind-address", "127.0.0.1:%d" % r["metrics"],
                "--health-probe-bind-address", "0", "--log-format", "text",
                # Only ClickHouse is a real server here (docs/upgrades.md).
                "--health-gates", "clickhouse",
                "--leader-elect", "--leader-election-namespace", NS,
                "--leader-election-lease-duration", "%ds" % self.o.lease_seconds,
                "--leader-election-renew-deadline", "%ds" % max(1, self.o.lease_seconds * 2 // 3),
                "--leader-election-retry-period", "1s"]
        with open(os.path.join(self.dir, "operator-%s.log" % label), "a") as out:
            r["proc"] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         env=dict(self.env, POD_NAME=r["cn"]))

    def scrape(self):
        """Keeps each live process's reconcile count (all results)."""
        for r in self.replicas.values():
            if r["proc"].poll() is not None:
                continue
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % r["metrics"], timeout=2) as f:
                    text = f.read().decode()
            except OSError:
                continue
            self.reconciles[r["cn"]] = sum(
                float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("controller_runtime_reconcile_total{") and 'controller="posthog"' in line)

    def restart_exited(self):
        """A replica that lost its lease exits (the manager stops); it is
        started again, as its Deployment would."""
        for label, r in self.replicas.items():
            if r["proc"].poll() is not None:
                log("replica %s exited (%s); starting it again" % (r["cn"], r["proc"].returncode))
                self.start(label)

    def leader(self):
        try:
            lease = json.loads(self.kubectl("get", "-n", NS, "lease", LEASE, "-o", "json",
                                            tries=2).stdout)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError):
            return None
        holder = lease.get("spec", {}).get("holderIdentity", "")
        for label, r in self.replicas.items():
            if holder.startswith(r["cn"]) and r["proc"].poll() is None:
                return label
        return None

    def kill_leader(self):
        label = self.leader()
        if not label:
            return
        r = self.replicas[label]
        log("kill -9 leader %s" % r["cn"])
        self.scrape()
        r["proc"].send_signal(signal.SIGKILL)
        r["proc"].wait()
        self.kills += 1
        self.last_fault = time.time()
        self.start(label)

    # ---- faults and spec changes ----------------------------------------------

    def set_faults(self, doc):
        path = os.path.join(self.cluster, "faults.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(path + ".tmp", path)

    def fault(self):
        kind = self.rng.choice(["error500", "error429", "closeWatches", "expireHistory",
                                "restart", "clickhouse"])
        self.faults[kind] = self.faults.get(kind, 0) + 1
        self.last_fault = time.time()
        if kind in ("error500", "error429"):
            secs = self.rng.uniform(5, 15)
            doc = {"reset": True, "errorRate": 0.2, "errorCode": 500 if kind == "error500" else 429,
                   "retryAfter": 1, "match": {"userAgent": "posthog-operator"}}
            self.set_faults(doc)
            self.error_fault_until = time.time() + secs
            log("fault %s for %.0fs" % (kind, secs))
        elif kind == "clickhouse":
            log("fault: ClickHouse restart")
            self.run(os.path.join(TOP, "hack/clickhouse"), "down", "--dir", self.ch_dir, check=False)
            time.sleep(self.rng.uniform(1, 5))
            self.run(os.path.join(TOP, "hack/clickhouse"), "up", "--dir", self.ch_dir)
        else:
            log("fault: %s" % kind)
            doc = {kind: True}
            if kind == "restart":
                doc["restartDownSeconds"] = self.rng.uniform(0.5, 3)
            self.set_faults(doc)
            if kind == "restart":
                time.sleep(doc["restartDownSeconds"] + 1)

    def clear_error_fault(self, force=False):
        if self.error_fault_until and (force or time.time() >= self.error_fault_until):
            self.set_faults({"reset": True})
            self.error_fault_until = 0.0
            self.last_fault = time.time()

    def change(self):
        ph = self.get("posthog", PH)
        spec = ph["spec"]
        kind = self.rng.choice(["ingestion", "kafka", "buckets", "buckets"])
        if kind == "ingestion":
            patch = {"pluginServer": {"ingestion": {"replicas": self.rng.randint(1, 3)}}}
        elif kind == "kafka" and spec["kafka"].get("brokers", 1) < 3:
            patch = {"kafka": {"brokers": spec["kafka"].get("brokers", 1) + 1}}
        else:
            old = spec.get("buckets", {}).get("count", 1)
            new = self.rng.choice([n for n in range(1, self.o.max_buckets + 1) if n != old])
            patch = {"buckets": {"count": new}}
        self.kubectl("patch", "-n", NS, "posthog", PH, "--type", "merge", "-p",
                     json.dumps({"spec": patch}))
        self.changes += 1
        log("spec change %s" % json.dumps(patch))

    # ---- invariants ---------------------------------------------------------------

    def violation(self, what):
        if not self.quiet:
            log("VIOLATION: " + what)
        self.violations.append(what)

    def read_requests(self):
        """Checks the new lines of the API server's request log: writes by
        one operator process at a time, Jobs created once per content, no
        PVC deleted."""
        path = os.path.join(self.cluster, "apiserver-requests.jsonl")
        try:
            with open(path) as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind("\n") + 1
        self.log_offset += len(data[:end].encode())
        for line in data[:end].splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            self.check_request(r)

    def check_request(self, r):
        user, verb, path, code = r.get("user", ""), r.get("verb"), r.get("path", ""), r.get("code", 0)
        if verb in ("delete", "deletecollection") and "/persistentvolumeclaims" in path:
            self.violation("PVC deleted: %s by %s" % (path, user))
        if not user.startswith("soak-") or verb not in WRITE_VERBS or code >= 400:
            return
        if "/leases/" in path or "/events" in path or "/proxy/" in path:
            return
        if user != self.last_writer:
            if user in self.writers_done:
                self.violation("%s wrote %s %s after %s had written: two leaders writing"
                               % (user, verb, path, self.last_writer))
            if self.last_writer:
                self.writers_done.add(self.last_writer)
            self.last_writer = user
        # A topics Job's name carries its content's hash. Created (201)
        # twice with no prune of it by the operator in between (its bucket
        # removed) means the same content ran twice, as when a Job removed
        # by its TTL or by hand is run again.
        m = re.search(r"/jobs/(%s-topics-\d+-\w+)$" % PH, path)
        if m and verb == "delete":
            self.job_creations.pop(m.group(1), None)
        elif m and code == 201:
            self.jobs_created += 1
            n = self.job_creations[m.group(1)] = self.job_creations.get(m.group(1), 0) + 1
            if n > 1:
                self.violation("Job %s created %d times for the same content"
                               % (m.group(1), n))

    def check_pvcs(self):
        try:
            now = {p["metadata"]["uid"] for p in self.get("pvc")["items"]}
        except (RuntimeError, subprocess.TimeoutExpired, ValueError):
            return
        for gone in self.pvcs - now:
            self.violation("PVC %s disappeared" % gone)
        self.pvcs |= now

    def ready(self):
        ph = self.get("posthog", PH)
        c = next((c for c in ph.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
        return c.get("status") == "True" and \
            ph["status"].get("observedGeneration") == ph["metadata"]["generation"], ph

    def clickhouse_buckets(self):
        url = self.ch["CLICKHOUSE_URL"] + "/"
        sql = ("SELECT name FROM system.tables WHERE database = 'posthog' AND "
               "match(name, '^(kafka_events_json|events_json_mv)_[0-9]+$')")
        req = urllib.request.Request(url, data=sql.encode())
        auth = "%s:%s" % (self.ch["CLICKHOUSE_USER"], self.ch["CLICKHOUSE_PASSWORD"])
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        with urllib.request.urlopen(req, timeout=30) as f:
            names = f.read().decode().split()
        per = {}
        for n in names:
            per.setdefault(int(n.rsplit("_", 1)[1]), set()).add(n.rsplit("_", 1)[0])
        return {b for b, kinds in per.items() if kinds == {"kafka_events_json", "events_json_mv"}}, set(per)

    def check_end_state(self, ph):
        count = ph["spec"].get("buckets", {}).get("count", 1)
        uid = ph["metadata"]["uid"]
        complete, any_tables = self.clickhouse_buckets()
        if complete != set(range(count)) or any_tables != set(range(count)):
            self.violation("ClickHouse bucket tables %s, spec has %d buckets" % (sorted(any_tables), count))
        for kind in ("deployments", "statefulsets", "services", "configmaps", "jobs",
                     "poddisruptionbudgets", "horizontalpodautoscalers"):
            for o in self.get(kind, "-l", "app.kubernetes.io/managed-by=posthog-operator")["items"]:
                meta = o["metadata"]
                owners = [r["uid"] for r in meta.get("ownerReferences", []) if r.get("controller")]
                b = meta.get("labels", {}).get("posthog.com/bucket")
                if owners != [uid]:
                    self.violation("orphan %s %s (owners %s)" % (kind, meta["name"], owners))
                elif b is not None and int(b) >= count and kind != "jobs":
                    self.violation("%s %s of removed bucket %s left" % (kind, meta["name"], b))
                elif b is not None and int(b) >= count and o.get("status", {}).get("completionTime"):
                    self.violation("completed Job %s of removed bucket %s left" % (meta["name"], b))

    # ---- the run ------------------------------------------------------------

    def soak(self):
        o = self.o
        start = time.time()
        end = start + o.duration
        next_fault = start + self.rng.uniform(*o.fault_every)
        next_kill = start + self.rng.uniform(*o.kill_every)
        next_change = start + self.rng.uniform(*o.change_every)
        next_check = start
        while time.time() < end:
            now = time.time()
            self.restart_exited()
            self.clear_error_fault()
            try:
                if now >= next_fault and sum(self.faults.values()) < o.max_faults:
                    if not self.error_fault_until:
                        self.fault()
                    next_fault = time.time() + self.rng.uniform(*o.fault_every)
                if now >= next_kill and self.kills < o.max_faults:
                    self.kill_leader()
                    next_kill = time.time() + self.rng.uniform(*o.kill_every)
                if now >= next_change and self.changes < o.max_changes:
                    self.change()
                    next_change = time.time() + self.rng.uniform(*o.change_every)
                if now >= next_check:
                    self.read_requests()
                    self.check_pvcs()
                    self.scrape()
                    next_check = time.time() + 5
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                log("step failed (the API server may be restarting): %s" % e)
            time.sleep(0.2)
        self.clear_error_fault(force=True)
        self.set_faults({"reset": True})
        log("faults stopped; waiting up to %ds for Ready" % o.converge_bound)
        converged = None
        deadline = time.time() + o.converge_bound
        while time.time() < deadline:
            self.restart_exited()
            try:
                ok, ph = self.ready()
            except (RuntimeError, subprocess.TimeoutExpired, ValueError):
                ok = False
            if ok:
                converged = time.time() - self.last_fault
                break
            time.sleep(1)
        if converged is None:
            self.violation("PostHog not Ready within %ds after the last fault" % o.converge_bound)
        else:
            time.sleep(3)  # let the prune and the schema step of that reconcile land
            ok, ph = self.ready()
            self.check_end_state(ph)
        self.read_requests()
        self.check_pvcs()
        self.scrape()
        return converged

    def summary(self, converged, elapsed, kept):
        faults = dict(self.faults, killLeader=self.kills)
        print("\n== soak summary")
        print("duration:               %ds of faults (+ %ds setup, convergence, checks)" % (self.o.duration, max(0, elapsed - self.o.duration)))
        print("faults injected:        %d %s" % (sum(faults.values()), json.dumps(faults, sort_keys=True)))
        print("spec changes:           %d" % self.changes)
        print("operator processes:     %d" % sum(r["gen"] for r in self.replicas.values()))
        print("reconciles:             %d" % sum(self.reconciles.values()))
        print("Jobs created:           %d" % self.jobs_created)
        print("converged after last fault: %s" % ("%.1fs" % converged if converged is not None else "no"))
        print("violations:             %d" % len(self.violations))
        for v in self.violations:
            print("  - " + v)
        print("state and logs:         %s" % (self.dir if kept else "(removed)"))


# The request-log checks on made-up histories, run before every soak so
# that a check that could not fail is noticed: (requests, violations).
J = "/apis/batch/v1/namespaces/soak/jobs/soak-topics-1-abcdef12"
D = "/apis/apps/v1/namespaces/soak/deployments/soak-plugins-ingestion-0"
SELF_TEST = [
    ([("soak-a-1", "patch", J, 201), ("soak-a-1", "patch", J, 201)], 1),
    ([("soak-a-1", "patch", J, 201), ("soak-a-1", "delete", J, 200), ("soak-a-1", "patch", J, 201)], 0),
    ([("soak-a-1", "patch", J, 201), ("system:ttl", "delete", J, 200), ("soak-a-1", "patch", J, 201)], 1),
    ([("soak-a-1", "patch", D, 200), ("soak-b-1", "patch", D, 200), ("soak-a-1", "patch", D, 200)], 1),
    ([("soak-a-1", "patch", D, 200), ("soak-b-1", "patch", D, 200), ("soak-a-2", "patch", D, 200)], 0),
    ([("soak-a-1", "patch", D, 500), ("soak-b-1", "patch", D, 200), ("soak-a-1", "patch", D, 500)], 0),
    ([("admin", "delete", "/api/v1/namespaces/soak/persistentvolumeclaims/x", 200)], 1),
]


def self_test(opts):
    for i, (requests, want) in enumerate(SELF_TEST):
        s = Soak.__new__(Soak)
        s.__init__(opts)
        os.rmdir(s.dir)
        s.quiet = True
        for user, verb, path, code in requests:
            s.check_request({"user": user, "verb": verb, "path": path, "code": code})
        if len(s.violations) != want:
            raise SystemExit("soak: self-test %d: %d violations, want %d" % (i, len(s.violations), want))


def span(text):
    a, _, b = text.partition("-")
    return float(a), float(b or a)


def main(argv):
    p = argparse.ArgumentParser(prog="hack/soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600, help="seconds of faults (default 600)")
    p.add_argument("--converge-bound", type=float, default=180,
                   help="seconds the PostHog has to be Ready after the faults stop (default 180)")
    p.add_argument("--fault-every", type=span, default=(3, 10), help="seconds between faults, MIN-MAX (3-10)")
    p.add_argument("--kill-every", type=span, default=(20, 60), help="seconds between leader kills (20-60)")
    p.add_argument("--change-every", type=span, default=(10, 30), help="seconds between spec changes (10-30)")
    p.add_argument("--max-faults", type=int, default=1000, help="at most this many faults and kills each")
    p.add_argument("--max-changes", type=int, default=1000, help="at most this many spec changes")
    p.add_argument("--max-buckets", type=int, default=4)
    p.add_argument("--lease-seconds", type=int, default=6, help="leader election lease duration (6)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    p.add_argument("--dir", default=None, help="parent of the state directory (default: $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the state directory")
    o = p.parse_args(argv)
    if o.seed is None:
        o.seed = int(time.time())
    o.replicas = ["a", "b"]
    self_test(o)
    s = Soak(o)
    log("seed %d, duration %ds" % (o.seed, o.duration))
    started = time.time()
    converged = None
    try:
        s.up()
        converged = s.soak()
    except KeyboardInterrupt:
        s.violation("interrupted")
    finally:
        s.down()
    kept = bool(s.violations) or o.keep
    if not kept:
        subprocess.run(["rm", "-rf", s.dir])
    s.summary(converged, time.time() - started, kept)
    return 1 if s.violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

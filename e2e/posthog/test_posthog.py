"""End-to-end tests of the PostHog controller.

They drive a cluster with kubectl only, so they run unchanged against any
cluster in KUBECONFIG (k3s, EKS, GKE, DOKS) where the operator and its CRD
are installed; there ClickHouse is reached with `kubectl exec`, the base
tables are created by the suite with E2E_SEED_SCHEMA=1, and the operator is
restarted by deleting its pods in E2E_OPERATOR_NAMESPACE. Against the local
API server (E2E_LOCAL=1, set by hack/test.d/60-e2e-posthog) the suite runs
the operator process itself and reaches ClickHouse over HTTP. E2E_CLUSTER
says which server that is: "local" (hack/local-cluster, its request log) or
"kube" (hack/kube-cluster, a real control plane: its audit log); the
write-counting cases read that log and are skipped elsewhere.
E2E_CLICKHOUSE_ARGS holds the operator's ClickHouse flags (default
--clickhouse-access proxy; with kube, dns plus --connect-to).
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.request

# Ports from below the ephemeral range (hack/freeport.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hack"))
from freeport import free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LOCAL = os.environ.get("E2E_LOCAL") == "1"
CLUSTER = os.environ.get("E2E_CLUSTER", "local")
# The local API server's fault injection and request log exist only there.
FAULTS = LOCAL and CLUSTER == "local"
NS = os.environ.get("E2E_NAMESPACE", "e2e-posthog")
READY_TIMEOUT = float(os.environ.get("E2E_READY_TIMEOUT", "180"))


def kubectl(*args, check=True, input=None):
    p = subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def get(kind, name=None, selector=None, check=True):
    args = ["get", kind, "-o", "json"]
    if name:
        args.insert(2, name)
    if selector:
        args += ["-l", selector]
    p = kubectl(*args, check=check)
    return json.loads(p.stdout) if p.returncode == 0 else None


def get_in(namespace, kind, selector):
    p = subprocess.run(["kubectl", "-n", namespace, "get", kind, "-l", selector, "-o", "json"],
                       capture_output=True, text=True, timeout=120, check=True)
    return json.loads(p.stdout)


def wait_for(what, fn, timeout=READY_TIMEOUT, interval=1.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except AssertionError as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def condition(ph, ctype):
    for c in (ph or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def clickhouse_pods():
    """Running ClickHouse pods of the PostHog (real clusters)."""
    pods = get("pods", selector="app.kubernetes.io/name=clickhouse,app.kubernetes.io/instance=%s"
               % ph_name())
    return [p["metadata"]["name"] for p in pods["items"]
            if p.get("status", {}).get("phase") == "Running"]


def clickhouse_credentials():
    ph = get("posthog", ph_name())
    secret = ph["spec"]["clickhouse"]["passwordSecret"]
    data = get("secret", secret["name"])["data"]
    return (ph["spec"]["clickhouse"].get("user", "admin"),
            base64.b64decode(data[secret.get("key", "password")]).decode())


def clickhouse_exec(pod, sql, check=True):
    user, password = clickhouse_credentials()
    r = kubectl("exec", "-i", pod, "--", "clickhouse-client", "--user", user,
                "--password", password, "--multiquery", input=sql, check=check)
    return r


def clickhouse(sql):
    """Runs a query: on the local ClickHouse over HTTP, or on a real cluster
    in the first ClickHouse pod."""
    if not LOCAL:
        return clickhouse_exec(clickhouse_pods()[0], sql).stdout
    url = os.environ["CLICKHOUSE_URL"]
    req = urllib.request.Request(url + "/", data=sql.encode())
    auth = "%s:%s" % (os.environ["CLICKHOUSE_USER"], os.environ["CLICKHOUSE_PASSWORD"])
    req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def clickhouse_file(path):
    """Runs a SQL file on every ClickHouse (as PostHog's migrations do)."""
    if LOCAL:
        subprocess.run([os.path.join(TOP, "hack/clickhouse"), "sql", "--dir",
                        os.path.join(os.environ["E2E_DIR"], "clickhouse"), path],
                       check=True, capture_output=True, timeout=120)
        return
    with open(path) as f:
        sql = f.read()
    for pod in clickhouse_pods():
        clickhouse_exec(pod, sql)


def bucket_tables():
    out = clickhouse("SELECT name FROM system.tables WHERE database = 'posthog' "
                     "AND match(name, '^(kafka_events_json|events_json_mv)_[0-9]+$') ORDER BY name")
    return set(out.split())


class Operator:
    """The operator process, when the test runner manages it."""

    def __init__(self):
        self.proc = None
        self.log = os.path.join(os.environ.get("E2E_DIR", "/tmp"), "operator.log")

    def start(self, *extra):
        self.metrics_port = free_port()
        args = [os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator/posthog-operator"),
                "--kubeconfig", os.environ["KUBECONFIG"],
                *os.environ.get("E2E_CLICKHOUSE_ARGS", "--clickhouse-access proxy").split(),
                "--metrics-bind-address", "127.0.0.1:%d" % self.metrics_port,
                "--health-probe-bind-address", "0", "--log-format", "text",
                # Only ClickHouse is a real server here; the ZooKeeper and
                # Kafka pods are simulated, so their restarts are gated on
                # Ready alone (test_10 and hack/test.d/28-upgrade-gates test
                # the real gates).
                "--health-gates", os.environ.get("E2E_HEALTH_GATES", "clickhouse"), *extra]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def reconciles(self, metric="controller_runtime_reconcile_total"):
        """A counter of the posthog controller (by default its reconciles,
        all results), summed over its series."""
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return 0.0  # not listening yet
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(metric + "{")
                   and 'controller="posthog"' in line)

    def gauge(self, metric, **labels):
        """One sample of metric whose labels include labels, or None."""
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(metric + "{"):
                    head, value = line.rsplit(" ", 1)
                    if all('%s="%s"' % kv in head for kv in labels.items()):
                        return float(value)
        return None

    def errors(self):
        """Failed reconciles of the posthog controller, which the work queue
        retries with backoff."""
        return self.reconciles("controller_runtime_reconcile_errors_total")

    def stop(self, sig=signal.SIGTERM):
        """Stops the operator; returns its exit status (None if not running)."""
        code = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            code = self.proc.wait(timeout=60)
        self.proc = None
        return code


OPERATOR = Operator()
OPERATOR_NS = os.environ.get("E2E_OPERATOR_NAMESPACE")


def restart_operator(kill=False):
    """Restarts the operator: the local process, or (on a real cluster with
    E2E_OPERATOR_NAMESPACE) its pods, deleted at once when kill."""
    if LOCAL:
        OPERATOR.stop(signal.SIGKILL if kill else signal.SIGTERM)
        OPERATOR.start()
        return
    args = ["delete", "pod", "-l", "app.kubernetes.io/name=posthog-operator", "--wait=false"]
    if kill:
        args += ["--grace-period=0", "--force"]
    subprocess.run(["kubectl", "-n", OPERATOR_NS, *args], check=True, capture_output=True,
                   timeout=60)


def can_restart_operator():
    return LOCAL or bool(OPERATOR_NS)
MANIFEST = os.path.join(TOP, "examples", "minimal.yaml")


class WriteLog:
    """The operator's writes (create, update, patch, delete of objects) as
    the API server logged them: hack/local-cluster's request log, or the
    real kube-apiserver's audit log (hack/kube-cluster's policy logs every
    request at Metadata level). mark() then writes() gives those since."""

    def __init__(self):
        d = os.environ.get("KUBE_CLUSTER_DIR") or os.environ.get("LOCAL_CLUSTER_DIR", "")
        self.path = os.path.join(d, "audit.log" if CLUSTER == "kube"
                                 else "apiserver-requests.jsonl")
        self.start = 0

    def _lines(self):
        with open(self.path) as f:
            return f.readlines()

    def mark(self):
        self.start = len(self._lines())

    def _requests(self, verbs):
        out, seen = [], set()
        for line in self._lines()[self.start:]:
            r = json.loads(line)
            agent = r.get("userAgent", r.get("user_agent", ""))
            if "posthog-operator" not in agent or r["verb"] not in verbs:
                continue
            if CLUSTER == "kube":
                if r.get("auditID") in seen:  # one event per stage
                    continue
                seen.add(r.get("auditID"))
                ref = r.get("objectRef") or {}
                out.append((r["verb"], "%s/%s/%s%s" % (ref.get("resource"), ref.get("namespace"),
                                                       ref.get("name"),
                                                       "/" + ref["subresource"]
                                                       if ref.get("subresource") else "")))
            elif "/proxy/" not in r["path"]:
                # A POST through the service proxy is a ClickHouse query
                # (reading system.tables), not a write to an object.
                out.append((r["verb"], r["path"]))
        return out

    def writes(self):
        return self._requests(("create", "update", "patch", "delete"))

    def reads(self):
        """Gets and lists; an informer's watches are not counted."""
        return self._requests(("get", "list"))


def can_count_writes():
    return LOCAL and CLUSTER in ("local", "kube")


def apply_minimal():
    """examples/minimal.yaml with three ZooKeeper members from the start: a
    ZooKeeper grows only by reconfig through its live ensemble (issue 16,
    docs/scaling.md), which these pods do not run, while a fresh ensemble
    starts with the spec's size. The cases that need three members
    (test_07b, test_10, test_10e) find them; test_03a shows a growth
    waiting for the ensemble."""
    with open(MANIFEST) as f:
        doc = f.read()
    one, three = "  zookeeper:\n    replicas: 1\n", "  zookeeper:\n    replicas: 3\n"
    assert one in doc, MANIFEST + " no longer sets one ZooKeeper member"
    kubectl("apply", "-f", "-", input=doc.replace(one, three))


def event_reasons(name, namespace=NS):
    """Reasons of the events.k8s.io Events about the PostHog."""
    p = subprocess.run(["kubectl", "-n", namespace, "get", "events.v1.events.k8s.io", "-o", "json"],
                       capture_output=True, text=True, timeout=60, check=True)
    return {e.get("reason") for e in json.loads(p.stdout)["items"]
            if e.get("regarding", {}).get("kind") == "PostHog"
            and e["regarding"].get("name") == name}


def matrix():
    """The version matrix, as `posthog-operator versions` prints it."""
    binary = os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator/posthog-operator")
    return json.loads(subprocess.run([binary, "versions"], capture_output=True, text=True,
                                     check=True, timeout=30).stdout)


def matrix_versions():
    return [r["version"] for r in matrix()]


def matrix_row(version):
    return next(r for r in matrix() if r["version"] == version)


def ph_name():
    return get("posthogs")["items"][0]["metadata"]["name"]


def patch_ph(patch):
    kubectl("patch", "posthog", ph_name(), "--type", "merge", "-p", json.dumps(patch))


SEEDED = set()


def seed_schema():
    """On a real cluster (E2E_SEED_SCHEMA=1), plays PostHog's migrations:
    creates the base tables on every running ClickHouse pod not yet seeded,
    as `migrate_clickhouse` would. The local runner seeds its ClickHouse
    itself."""
    if os.environ.get("E2E_SEED_SCHEMA") != "1":
        return
    with open(os.path.join(TOP, "hack", "clickhouse-base-schema.sql")) as f:
        sql = f.read()
    for pod in clickhouse_pods():
        if pod not in SEEDED and clickhouse_exec(pod, sql, check=False).returncode == 0:
            SEEDED.add(pod)


def ready_gen():
    """Waits until Ready is True for the current generation."""
    def ok():
        seed_schema()
        ph = get("posthog", ph_name())
        c = condition(ph, "Ready")
        gen = ph["metadata"]["generation"]
        return (c and c["status"] == "True" and ph["status"].get("observedGeneration") == gen) and ph
    return wait_for("PostHog Ready", ok)


def ready_within(seconds):
    """Waits (at most seconds) until Ready is True for the current generation."""
    def ok():
        ph = get("posthog", ph_name())
        c = condition(ph, "Ready")
        return (c and c["status"] == "True"
                and ph["status"].get("observedGeneration") == ph["metadata"]["generation"]) and ph
    return wait_for("PostHog Ready", ok, timeout=seconds)


def set_faults(doc):
    """Writes the local API server's fault flag file (docs/local-cluster.md);
    the server re-reads it within 0.2 s."""
    path = os.path.join(os.environ["LOCAL_CLUSTER_DIR"], "faults.json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)
    time.sleep(0.5)


def operator_fault(path, verbs):
    """Every request of the operator to paths matching path with one of
    verbs answers 500."""
    set_faults({"reset": True, "errorRate": 1.0, "errorCode": 500,
                "match": {"path": path, "verbs": verbs, "userAgent": "posthog-operator"}})


def degraded_reason(name, cond="Degraded"):
    c = condition(get("posthog", name), cond)
    return c["reason"] if c and c["status"] in ("True", "False") else None


def bucket_count(ph):
    return ph["spec"].get("buckets", {}).get("count", 1)


# How long each transient fault lasts, and the bound on recovery once it is
# gone (issue 18: Ready within 60 s of the fault clearing, with no other
# event to bring the PostHog back).
FAULT_SECONDS = 20
RECOVERY_SECONDS = 60

def create_secret(name, value, namespace=NS):
    """Creates (or replaces) an Opaque Secret whose key "password" holds
    value's bytes exactly (no trailing newline added)."""
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
           "type": "Opaque", "data": {"password": base64.b64encode(value.encode()).decode()}}
    subprocess.run(["kubectl", "-n", namespace, "delete", "secret", name, "--ignore-not-found"],
                   capture_output=True, timeout=60, check=True)
    subprocess.run(["kubectl", "-n", namespace, "create", "-f", "-"], input=json.dumps(doc),
                   capture_output=True, text=True, timeout=60, check=True)


def other_posthog(name, namespace, **spec):
    """Applies a second PostHog in namespace (with its Secrets): the
    current matrix row, one ZooKeeper and Kafka broker, plus spec."""
    app = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "posthog-app", "namespace": namespace},
           "type": "Opaque", "stringData": {"database-url": "postgres://posthog:unused@127.0.0.1:1/posthog",
                                            "redis-url": "redis://127.0.0.1:1/",
                                            "secret-key": "e2e-secret-key-not-for-production",
                                            "encryption-salt-keys": "0123456789abcdef0123456789abcdef"}}
    full = {"version": matrix_versions()[-1],
            "postgres": {"urlSecret": {"name": "posthog-app", "key": "database-url"}},
            "redis": {"urlSecret": {"name": "posthog-app", "key": "redis-url"}},
            "secretKey": {"name": "posthog-app", "key": "secret-key"},
            "encryptionSaltKeys": {"name": "posthog-app", "key": "encryption-salt-keys"},
            "zookeeper": {"replicas": 1}, "kafka": {"brokers": 1, "topics": {"partitions": 1}},
            "clickhouse": {"passwordSecret": {"name": "posthog-clickhouse"}}}
    for k, v in spec.items():
        full[k] = dict(full.get(k) or {}, **v) if isinstance(v, dict) else v
    ph = {"apiVersion": "posthog.com/v1alpha1", "kind": "PostHog",
          "metadata": {"name": name, "namespace": namespace}, "spec": full}
    for doc in (app, ph):
        p = subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(doc), text=True,
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("kubectl apply: %s" % p.stderr.strip())


def request_log_lines():
    """The local API server's request log, as parsed lines."""
    with open(os.path.join(os.environ["LOCAL_CLUSTER_DIR"], "apiserver-requests.jsonl")) as f:
        return [json.loads(line) for line in f]


def seed_database(db):
    """Creates database db with the base tables, as PostHog's migrations
    would for CLICKHOUSE_DATABASE=db."""
    import tempfile
    with open(os.path.join(TOP, "hack", "clickhouse-base-schema.sql")) as f:
        sql = f.read()
    sql = sql.replace("DATABASE IF NOT EXISTS posthog;", "DATABASE IF NOT EXISTS %s;" % db) \
             .replace("posthog.", db + ".").replace("'posthog', 'posthog'", "'posthog', '%s'" % db)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    try:
        clickhouse_file(f.name)
    finally:
        os.unlink(f.name)


ZK_JAR = "/usr/share/java/zookeeper.jar"
# How much longer than one leader election a ZooKeeper client may go
# without an acknowledged write (test_10e): its reconnect, see there.
ZK_CLIENT_MARGIN = 2.0


class ZkEnsemble:
    """Three Debian ZooKeeper servers (myid 1..3) on free loopback ports,
    started and stopped by the test."""

    def __init__(self, d):
        self.dir = d
        self.procs = {}
        self.ports = {i: (free_port(), free_port(), free_port()) for i in (1, 2, 3)}
        for i in (1, 2, 3):
            os.makedirs(os.path.join(d, "zk%d" % i, "data"), exist_ok=True)
            with open(os.path.join(d, "zk%d" % i, "data", "myid"), "w") as f:
                f.write("%d\n" % i)
            with open(os.path.join(d, "zk%d" % i, "zoo.cfg"), "w") as f:
                f.write("tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir=%s\nclientPort=%d\n"
                        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                        "4lw.commands.whitelist=mntr\n" % (os.path.join(d, "zk%d" % i, "data"),
                                                            self.ports[i][0]))
                for j in (1, 2, 3):
                    f.write("server.%d=127.0.0.1:%d:%d\n" % (j, self.ports[j][1], self.ports[j][2]))

    def client_port(self, i):
        return self.ports[i][0]

    def start(self, i):
        with open(os.path.join(self.dir, "zk%d" % i, "log"), "a") as log:
            self.procs[i] = subprocess.Popen(
                ["java", "-Xmx128m", "-cp", "/etc/zookeeper/conf:" + ZK_JAR,
                 "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                 os.path.join(self.dir, "zk%d" % i, "zoo.cfg")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self, i):
        p = self.procs.pop(i, None)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def kill(self, i):
        """As a container's kill: at once."""
        p = self.procs.pop(i, None)
        if p and p.poll() is None:
            p.kill()
            p.wait()

    def stop_all(self):
        for i in list(self.procs):
            self.stop(i)

    def mntr(self, i):
        """Server i's mntr answer as a dict, or None."""
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.ports[i][0]), timeout=2) as c:
                c.sendall(b"mntr")
                data = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        kv = dict(ln.split("\t", 1) for ln in data.decode(errors="replace").splitlines() if "\t" in ln)
        return kv if "zk_server_state" in kv else None

    def leader(self):
        for i in (1, 2, 3):
            m = self.mntr(i)
            if m and m["zk_server_state"] == "leader":
                return i
        return None

    def state(self):
        """(whole, leader) from one round of mntr: whole() and leader()."""
        ms = [self.mntr(i) for i in (1, 2, 3)]
        lead = next((i for i, m in zip((1, 2, 3), ms) if m and m["zk_server_state"] == "leader"), None)
        return self.whole(ms), lead

    def whole(self, ms=None):
        """Every server serves, one leads, and it counts both others synced."""
        ms = ms if ms is not None else [self.mntr(i) for i in (1, 2, 3)]
        if not all(ms):
            return False
        leaders = [m for m in ms if m["zk_server_state"] == "leader"]
        return (len(leaders) == 1 and all(m["zk_server_state"] in ("leader", "follower") for m in ms)
                and leaders[0].get("zk_synced_followers") == "2")


class ZkWriter:
    """A client that writes to the real ensemble throughout, through
    ZooKeeper's own C client (libzookeeper_mt.so.2, Debian's
    libzookeeper-mt2, which hack/setup installs with libzookeeper-mt-dev;
    called through ctypes). It sets one znode in a loop with the
    synchronous zoo_set and keeps every write's start, end and return code
    (0 is ZOK; ZCONNECTIONLOSS is -4: apache/zookeeper
    zookeeper-client/zookeeper-client-c/include/zookeeper.h). A write
    issued while the client reconnects waits in the client's queue, so an
    outage shows as failed writes, a slow write, or both: the measure is
    the time between two acknowledged writes."""

    LIB = "libzookeeper_mt.so.2"
    PATH = b"/e2e-writer"

    def __init__(self, hosts):
        import ctypes
        import threading
        c = ctypes
        lib = self.lib = c.CDLL(self.LIB)
        lib.zookeeper_init.restype = c.c_void_p
        lib.zookeeper_init.argtypes = [c.c_char_p, c.c_void_p, c.c_int, c.c_void_p, c.c_void_p, c.c_int]
        lib.zoo_create.argtypes = [c.c_void_p, c.c_char_p, c.c_char_p, c.c_int, c.c_void_p, c.c_int,
                                   c.c_char_p, c.c_int]
        lib.zoo_set.argtypes = [c.c_void_p, c.c_char_p, c.c_char_p, c.c_int, c.c_int]
        lib.zookeeper_close.argtypes = [c.c_void_p]
        lib.zoo_set_debug_level.argtypes = [c.c_int]
        lib.zoo_set_debug_level(0)  # its reconnects are expected here
        self.acl = c.addressof(c.c_char.in_dll(lib, "ZOO_OPEN_ACL_UNSAFE"))
        # The session timeout the servers allow with tickTime=500 is at
        # most 20 ticks (ZooKeeper Administrator's Guide, maxSessionTimeout).
        self.zh = lib.zookeeper_init(hosts.encode(), None, 10000, None, None, 0)
        if not self.zh:
            raise AssertionError("zookeeper_init failed")
        buf = c.create_string_buffer(64)
        rc = lib.zoo_create(self.zh, self.PATH, b"", 0, self.acl, 0, buf, 64)
        if rc not in (0, -110):  # ZOK, ZNODEEXISTS
            raise AssertionError("zoo_create %s: %d" % (self.PATH, rc))
        self.writes = []  # (start, end, rc), time.monotonic()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stopping.is_set():
            v = str(n).encode()
            t0 = time.monotonic()
            rc = self.lib.zoo_set(self.zh, self.PATH, v, len(v), -1)
            self.writes.append((t0, time.monotonic(), rc))
            n += 1
            time.sleep(0.02)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=60)
        self.lib.zookeeper_close(self.zh)

    def failed(self):
        return [w for w in self.writes if w[2] != 0]

    def outages(self):
        """Every stretch without an acknowledged write that held a failed or
        a slow (over 1 s) write: (from the last acknowledgement before, to
        the first after, failed writes in it)."""
        out, last_ok, fails = [], None, 0
        for t0, t1, rc in self.writes:
            if rc != 0:
                fails += 1
                continue
            if last_ok is not None and (fails or t1 - t0 > 1.0):
                out.append((last_ok, t1, fails))
            last_ok, fails = t1, 0
        return out


class ZkMonitor:
    """Reads mntr from the three servers, one after another, every 50 ms:
    each sample is (started, ended, {server: zk_server_state or None})."""

    def __init__(self, zk):
        import threading
        self.zk, self.samples = zk, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            states, t0 = {}, time.monotonic()
            for i in (1, 2, 3):
                m = self.zk.mntr(i)
                states[i] = m and m["zk_server_state"]
            self.samples.append((t0, time.monotonic(), states))
            time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)

    def two_leaders(self):
        return [s for s in self.samples if list(s[2].values()).count("leader") > 1]

    def leader_after(self, t):
        """The first sample begun after t in which a server leads."""
        return next((s for s in self.samples if s[0] > t and "leader" in s[2].values()), None)


class ZkKubelet:
    """Plays the kubelet for the ZooKeeper pods, from a watch: the moment a
    pod is being deleted it notes whether the ensemble was whole and which
    server led, kills the pod's server (pod i is server 3 - i) and starts
    it again, as a kubelet would start the recreated pod's container.

    As a kubelet's, the old container is gone before the Pod object is: the
    kubelet puts its finalizer (FINALIZER) on each ZooKeeper pod, and
    hack/kube-cluster's kwok stage "pod-delete" leaves a pod alone while it
    carries it; the kubelet takes it off once the server is killed. So the
    StatefulSet cannot recreate the pod, and kwok cannot mark the new one
    Ready, while the old server still answers the operator's gate. (Without
    this, a watch event that came late let the gate read the old server,
    whole, and pass: seen under load.)"""

    FINALIZER = "e2e.posthog.com/kubelet"

    def __init__(self, name, zk, pods):
        import threading
        self.zk, self.pods, self.seen, self.handled, self.killed = zk, pods, [], set(), set()
        self.stopping = False
        # When the leader's server was killed: (the kill sent, it is gone).
        self.leader_stops = []
        self.proc = subprocess.Popen(
            ["kubectl", "-n", NS, "get", "pods", "-l",
             "app.kubernetes.io/instance=%s,app.kubernetes.io/name=zookeeper" % name,
             "--watch", "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.watching = threading.Event()
        self.held = set()  # pod names whose live object carries FINALIZER
        # (started, finished, (whole, leader)) of the recent rounds of
        # mntr, every 0.1 s; and when the last server was killed.
        self.state_lock = threading.Lock()
        t0 = time.monotonic()
        self.states = [(t0, time.monotonic(), zk.state())]
        self.last_kill = None
        self.sampling = threading.Event()
        self.sampler = threading.Thread(target=self.sample, daemon=True)
        self.sampler.start()

    def sample(self):
        while not self.sampling.is_set():
            t0 = time.monotonic()
            st = self.zk.state()
            with self.state_lock:
                self.states = self.states[-50:] + [(t0, time.monotonic(), st)]
            time.sleep(0.1)

    def start(self):
        """Returns once every pod carries the kubelet's finalizer."""
        self.thread.start()
        if not self.watching.wait(60):
            raise AssertionError("the pod watch did not start, or the finalizers were not set")

    def finalize(self, name, hold):
        """Puts the kubelet's finalizer on pod name, or takes it off. The
        ZooKeeper pods have no other finalizer."""
        kubectl("patch", "pod", name, "--type=merge", "-p", json.dumps(
            {"metadata": {"finalizers": [self.FINALIZER] if hold else None}}), check=False)

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
            name = meta.get("name")
            if name not in self.pods:
                continue
            going = ev.get("type") == "DELETED" or meta.get("deletionTimestamp")
            ours = self.FINALIZER in (meta.get("finalizers") or [])
            if not going:
                if ours:
                    self.held.add(name)
                    if self.held >= set(self.pods):
                        self.watching.set()
                elif not self.stopping:
                    self.finalize(name, True)
                continue
            if meta.get("uid") in self.handled:
                continue
            self.handled.add(meta["uid"])
            self.held.discard(name)
            i = self.pods.index(name)
            # Was the ensemble whole when the pod was deleted? The old
            # server still runs (the finalizer holds the pod, so nothing
            # can replace it yet), so one round of mntr now, before the
            # kill, sees the ensemble as the operator's gate left it, or
            # later by the watch's latency (a previous server finishing
            # its rejoin in those milliseconds is the one thing that can
            # change). The sampled rounds count too: one that began after
            # the previous kill (the last disturbance; nothing else breaks
            # the ensemble here) and ended before this event, whole. A
            # deletion before the previous server rejoined fails both,
            # since a rejoin takes seconds.
            now = time.monotonic()
            with self.state_lock:
                rounds = [r for r in self.states if r[1] <= now]
            since = self.last_kill
            whole_now, leader_now = self.zk.state()
            whole = whole_now or any(st[0] for t0, _, st in rounds if since is None or t0 >= since)
            leader = leader_now or rounds[-1][2][1]
            self.seen.append((name, whole, leader and self.pods[3 - leader]))
            # The operator restarts each pod once per plan; a later
            # deletion (kwok's by-name delete, docs/upgrades.md, or the
            # test's own clean-up) does not restart the server again.
            if name not in self.killed:
                self.killed.add(name)
                t_kill = time.monotonic()
                self.zk.kill(3 - i)
                self.last_kill = time.monotonic()
                if leader == 3 - i:
                    self.leader_stops.append((t_kill, self.last_kill))
                self.zk.start(3 - i)
            if ours:
                self.finalize(name, False)

    def stop(self):
        """Stops the watch, and takes the finalizer off every pod still
        carrying it (later deletions are kwok's alone again)."""
        self.stopping = True
        self.sampling.set()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.thread.join(timeout=60)
        self.sampler.join(timeout=30)
        for p in self.pods:
            self.finalize(p, False)


class PostHogE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
        if LOCAL:
            OPERATOR.start()
        apply_minimal()

    @classmethod
    def tearDownClass(cls):
        if LOCAL:
            OPERATOR.stop()

    def test_01_apply_to_ready(self):
        ph = ready_gen()
        self.assertEqual(ph["status"]["phase"], "Ready")
        for t in ("ZooKeeperReady", "KafkaReady", "ClickHouseReady", "TopicsReady",
                  "Migrated", "SchemaReady", "PluginServersReady"):
            self.assertEqual(condition(ph, t)["status"], "True", t)
        self.assertTrue(ph["status"]["buckets"][0]["ready"])
        self.assertEqual(condition(ph, "Degraded")["status"], "False")
        self.assertTrue({"kafka_events_json_0", "events_json_mv_0"} <= bucket_tables())
        # The first claim of the database succeeds at once: no ClickHouse
        # error on the way to Ready.
        self.assertNotIn("ClickHouseError", event_reasons(ph_name()))

    def test_10_restarts_halt_resume_and_roll_back(self):
        """Issue 13: the stateful pods restart one at a time, in plan order;
        a pod whose image never becomes Ready halts the plan there with a
        condition naming it and an Event, and no later pod is touched; a
        fix resumes; going back to the old image walks back in reverse."""
        if not LOCAL:
            self.skipTest("needs the operator run by the tests (--restart-timeout)")
        ready_gen()
        name = ph_name()
        self.assertEqual(OPERATOR.stop(), 0)
        OPERATOR.start("--restart-timeout", "8s")
        patch_ph({"spec": {"zookeeper": {"replicas": 3}}})
        ph = ready_gen()
        self.assertEqual(get("statefulset", name + "-zookeeper")["spec"]["updateStrategy"]["type"],
                         "OnDelete")
        old_tag = get("statefulset", name + "-zookeeper")["spec"]["template"]["spec"][
            "containers"][0]["image"].rsplit(":", 1)[1]
        pods = ["%s-zookeeper-%d" % (name, i) for i in range(3)]

        def uids():
            return {p: get("pod", p)["metadata"]["uid"] for p in pods}

        def restarts_since(mark):
            """The ZooKeeper pods the operator restarted since mark (an
            offset in its log), in order. (Its RestartingPod Events say the
            same, but the recorder folds a repeat of one into a series.)"""
            with open(OPERATOR.log) as f:
                f.seek(mark)
                lines = f.read().splitlines()
            names = [ln.split("upgrade: restarting ", 1)[1].split()[0] for ln in lines
                     if "upgrade: restarting " in ln]
            return [n for n in names if "-zookeeper-" in n]

        def now_mark():
            return os.path.getsize(OPERATOR.log)

        # 1. An image that never becomes Ready: the first pod halts the plan.
        before = uids()
        mark = now_mark()
        patch_ph({"spec": {"zookeeper": {"image": {"tag": "broken-13"}}}})
        # The plan's memory of that restart (status.upgrade.pod) is written
        # after the deletion, and a refused status write (a 409) loses it.
        # It is dropped here on purpose, within the 8 s timeout: the plan
        # halts all the same, timed from the new pod's own Ready condition.
        wait_for("the first restart", lambda: restarts_since(mark) == [pods[0]], timeout=60,
                 interval=0.2)
        kubectl("patch", "posthog", name, "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": {"upgrade": {"pod": None, "restartedAt": None}}}))

        def halted():
            c = condition(get("posthog", name), "UpgradeHalted")
            return c and c["status"] == "True" and "on its update revision" in c["message"] and c
        c = wait_for("the plan halted without its memory of the restart", halted, timeout=120)
        self.assertIn(pods[0], c["message"])
        self.assertIn("not Ready", c["message"])
        self.assertIn("UpgradeHalted", event_reasons(name))
        up = get("posthog", name)["status"]["upgrade"]
        self.assertEqual(up["phase"], "Halted")
        self.assertEqual([s["state"] for s in up["steps"] if s["component"] == "zookeeper"],
                         ["Halted", "Pending", "Pending"])
        time.sleep(3)
        after = uids()
        self.assertNotEqual(after[pods[0]], before[pods[0]])
        self.assertEqual((after[pods[1]], after[pods[2]]), (before[pods[1]], before[pods[2]]),
                         "no later pod is touched while halted")
        self.assertEqual(restarts_since(mark), [pods[0]])
        # The dashboard's upgrade panels read the same on /metrics.
        ns = get("posthog", name)["metadata"]["namespace"]
        self.assertEqual(OPERATOR.gauge("posthog_upgrade_phase", namespace=ns, name=name,
                                        phase="Halted"), 1)
        self.assertEqual(OPERATOR.gauge("posthog_upgrade_phase", namespace=ns, name=name,
                                        phase="Progressing"), 0)
        # Every Done step runs its update revision, and so does the halted
        # pod (recreated from the new template, never Ready).
        self.assertEqual(OPERATOR.gauge("posthog_upgrade_pods_updated", namespace=ns, name=name),
                         sum(1 for s in up["steps"] if s["state"] == "Done") + 1)

        # 2. The fix (a good image) resumes where it stopped, in order.
        mark = now_mark()
        patch_ph({"spec": {"zookeeper": {"image": {"tag": old_tag + "-fixed"}}}})
        ph = ready_gen()
        self.assertEqual(condition(ph, "UpgradeHalted")["status"], "False")
        self.assertEqual(ph["status"]["upgrade"]["phase"], "Complete")
        self.assertEqual(restarts_since(mark), pods, "one pod at a time, in plan order")
        wait_for("posthog_upgrade_phase Complete", lambda: OPERATOR.gauge(
            "posthog_upgrade_phase", namespace=ns, name=name, phase="Complete") == 1, timeout=30)
        self.assertEqual(OPERATOR.gauge("posthog_upgrade_pods_updated", namespace=ns, name=name),
                         OPERATOR.gauge("posthog_upgrade_pods", namespace=ns, name=name))
        self.assertEqual(OPERATOR.gauge("posthog_upgrade_pods", namespace=ns, name=name),
                         len(ph["status"]["upgrade"]["steps"]))

        # 3. Going back to the old image walks the pods back in reverse.
        mark = now_mark()
        patch_ph({"spec": {"zookeeper": {"image": {"tag": old_tag}}}})
        ph = ready_gen()
        revs = ph["status"]["upgrade"]["revisions"][name + "-zookeeper"]
        self.assertTrue(revs["rollback"], revs)
        self.assertEqual(restarts_since(mark), list(reversed(pods)))
        OPERATOR.stop()
        OPERATOR.start()

    def test_10b_plugin_servers_roll_bucket_by_bucket(self):
        """Issue 13: the plugin-servers roll out one bucket at a time: a
        bucket's new pod template is applied only once every earlier
        bucket's Deployments have rolled out (every pod updated and
        available, as `kubectl rollout status` says). A bucket whose new
        pods never become Ready holds the later buckets on their old
        template; the fix goes on in bucket order."""
        ph = ready_gen()
        name = ph_name()
        if bucket_count(ph) < 3:
            patch_ph({"spec": {"buckets": {"count": 3}}})
            ph = ready_gen()
        n = bucket_count(ph)
        deps = [("%s-plugins-ingestion-%d" % (name, b), "%s-plugins-async-%d" % (name, b))
                for b in range(n)]
        sel = "app.kubernetes.io/instance=%s,app.kubernetes.io/name=plugin-server" % name

        def image(d):
            return d["spec"]["template"]["spec"]["containers"][0]["image"]

        def rolled_out(d):
            st = d.get("status", {})
            return (st.get("observedGeneration", 0) >= d["metadata"]["generation"]
                    and st.get("updatedReplicas", 0) >= d["spec"]["replicas"]
                    and st.get("replicas", 0) <= st.get("updatedReplicas", 0)
                    and st.get("availableReplicas", 0) >= st.get("updatedReplicas", 0))

        def snapshot():
            items = {d["metadata"]["name"]: d for d in get("deployments", selector=sel)["items"]}
            return [[items[x] for x in pair] for pair in deps]

        old = image(get("deployment", deps[0][0]))
        tag = old.rsplit(":", 1)[1]

        try:
            # 1. New pods that never become Ready: bucket 0 rolls and never
            #    finishes; the later buckets keep their old template.
            patch_ph({"spec": {"pluginServer": {"image": {"tag": "broken-13b"}}}})
            wait_for("bucket 0 on the new template", lambda: all(
                image(d).endswith(":broken-13b") for d in snapshot()[0]), timeout=60)
            msg = wait_for("status.upgrade.pluginServers", lambda: get("posthog", name)["status"].get(
                "upgrade", {}).get("pluginServers"), timeout=60)
            self.assertIn("bucket 0 rolls out first", msg)
            self.assertIn("%d later buckets wait" % (n - 1), msg)
            time.sleep(4)
            for b, pair in enumerate(snapshot()[1:], 1):
                for d in pair:
                    self.assertEqual(image(d), old, "bucket %d is untouched while bucket 0 rolls" % b)
            cur = get("posthog", name)
            st = cur["status"]
            for b in range(1, n):
                self.assertFalse(st["buckets"][b]["ready"])
                self.assertIn("waits for bucket 0", st["buckets"][b]["message"])
            self.assertFalse(st["buckets"][0]["rolledOut"])
            self.assertEqual(condition(cur, "PluginServersReady")["status"], "False")

            # 2. The fix: watch the rollout. In every snapshot, a bucket on the
            #    new template has every earlier bucket rolled out on it.
            fixed = "%s:%s-fixed13b" % (old.rsplit(":", 1)[0], tag)
            mark = os.path.getsize(OPERATOR.log)
            patch_ph({"spec": {"pluginServer": {"image": {"tag": tag + "-fixed13b"}}}})
            deadline = time.time() + 180
            seen_partial = 0
            while True:
                snap = snapshot()
                new = [any(image(d) == fixed for d in pair) for pair in snap]
                done = [all(image(d) == fixed and rolled_out(d) for d in pair) for pair in snap]
                for b in range(n):
                    if new[b]:
                        self.assertTrue(all(done[:b]), "bucket %d rolls before %s finished: %s" % (
                            b, [x for x in range(b) if not done[x]], new))
                if any(new) and not all(new):
                    seen_partial += 1
                if all(done):
                    break
                self.assertLess(time.time(), deadline, "the rollout did not finish: %s" % done)
                time.sleep(0.2)
            self.assertGreater(seen_partial, 0, "a moment with some buckets rolled and some waiting")
            ph = ready_gen()
            self.assertTrue(all(b["rolledOut"] for b in ph["status"]["buckets"]))
            self.assertNotIn("pluginServers", ph["status"].get("upgrade", {}))
            with open(OPERATOR.log) as f:
                f.seek(mark)
                order = [int(ln.split("rolling out bucket ", 1)[1].split()[0]) for ln in f
                         if "plugin-servers: rolling out bucket " in ln]
            self.assertEqual(sorted(set(order)), list(range(n)))
            self.assertEqual([b for i, b in enumerate(order) if i == 0 or order[i - 1] != b],
                             list(range(n)), "first bucket 0, then 1, ...")
        finally:
            patch_ph({"spec": {"pluginServer": {"image": None}}})
        ready_gen()

    def test_10c_migrations_between_stateful_and_plugin_servers(self):
        """Issue 13: a new version restarts the stateful pods first, then
        runs its migrate Job, then rolls the plugin-servers; the operator's
        log shows that order."""
        if not LOCAL:
            self.skipTest("reads the operator's log")
        ph = ready_gen()
        name = ph_name()
        row = matrix_row(ph["spec"]["version"])
        zk = get("statefulset", name + "-zookeeper")["spec"]["template"]["spec"]["containers"][0]["image"]
        mark = os.path.getsize(OPERATOR.log)
        try:
            patch_ph({"spec": {"version": "upgrade-13", "unsupportedVersion": True,
                               "clickhouse": {"image": {"tag": row["clickhouseTag"]}},
                               "zookeeper": {"image": {"tag": zk.rsplit(":", 1)[1] + "-13"}}}})
            ph = ready_gen()
            job = get("job", name + "-migrate-upgrade-13")
            self.assertTrue(job["status"].get("completionTime"))
            with open(OPERATOR.log) as f:
                f.seek(mark)
                lines = f.read().splitlines()

            def at(pred, what):
                found = [i for i, ln in enumerate(lines) if pred(ln)]
                self.assertTrue(found, "no log line: " + what)
                return found

            restarts = at(lambda ln: "upgrade: restarting %s-zookeeper-" % name in ln, "ZooKeeper restarts")
            job_made = at(lambda ln: "creating Job %s-migrate-upgrade-13" % name in ln, "the migrate Job")[0]
            rolled = at(lambda ln: "plugin-servers: rolling out bucket 0" in ln, "bucket 0 rolling out")[0]
            zk_pods = {lines[i].split("upgrade: restarting ", 1)[1].split()[0] for i in restarts}
            self.assertEqual(len(zk_pods), ph["spec"]["zookeeper"]["replicas"], zk_pods)
            self.assertLess(restarts[-1], job_made, "every stateful restart before the Job")
            self.assertLess(job_made, rolled, "the Job before the plugin-servers")
        finally:
            patch_ph({"spec": {"version": row["version"], "unsupportedVersion": False,
                               "clickhouse": {"image": None}, "zookeeper": {"image": None}}})
        ready_gen()

    def test_10d_kafka_gate_reads_the_brokers_isr(self):
        """Issue 13: the Kafka gate against the Kafka-protocol broker here
        (hack/kafka: librdkafka's mock cluster, three brokers, a topic of
        four partitions replicated three times), reached as the operator
        reaches <ph>-kafka.<ns>.svc:9092, through --connect-to. While the
        broker does not answer, no Kafka pod is restarted and the plan
        names the failed metadata read; once it answers, the brokers are
        judged on the ISR it reports, and the pods restart one at a time.
        The mock reports every replica in sync (docs/upgrades.md): a
        broker missing from an ISR is the judgement's unit test."""
        if not LOCAL:
            self.skipTest("needs the operator run by the tests (--connect-to)")
        ph = ready_gen()
        name = ph_name()
        if ph["spec"]["kafka"]["brokers"] < 3:
            patch_ph({"spec": {"kafka": {"brokers": 3}}})
            ph = ready_gen()
        brokers = ph["spec"]["kafka"]["brokers"]
        kdir = os.path.join(os.environ.get("E2E_DIR", "/tmp"), "kafka-gate")
        up = subprocess.run([os.path.join(TOP, "hack", "kafka"), "up", "--dir", kdir, "--brokers", "3",
                             "--topic", "gate:4"], capture_output=True, text=True, timeout=120)
        self.assertEqual(up.returncode, 0, up.stderr)
        boot = up.stdout.split("KAFKA_BOOTSTRAP=", 1)[1].split()[0].strip("'\"")
        with open(os.path.join(kdir, "pid")) as f:
            broker_pid = int(f.read())
        host = "%s-kafka.%s.svc" % (name, NS)
        gates = os.environ.get("E2E_HEALTH_GATES")
        pods = ["%s-kafka-%d" % (name, i) for i in range(brokers)]
        # The KRaft controllers (issue 16) share the image and restart
        # first, judged on the partitions keeping their minimum ISR.
        voters = ["%s-kafka-controller-%d" % (name, i)
                  for i in range(get("statefulset", name + "-kafka-controller")["spec"]["replicas"])]
        stopped = False
        try:
            self.assertEqual(OPERATOR.stop(), 0)
            os.environ["E2E_HEALTH_GATES"] = "clickhouse,kafka"
            OPERATOR.start("--connect-to", "%s:9092:%s" % (host, boot.split(",")[0]))
            ready_gen()
            before = {p: get("pod", p)["metadata"]["uid"] for p in voters + pods}
            tag = get("statefulset", name + "-kafka")["spec"]["template"]["spec"]["containers"][0][
                "image"].rsplit(":", 1)[1]
            # 1. The broker does not answer: the gate stays closed.
            os.kill(broker_pid, signal.SIGSTOP)
            stopped = True
            patch_ph({"spec": {"kafka": {"image": {"tag": tag + "-13d"}}}})
            up_st = wait_for("the plan waits on Kafka's metadata", lambda: (lambda u: u if u.get(
                "reason") == "WaitingForHealth" and "Kafka metadata from " + host in u.get(
                "message", "") else None)(get("posthog", name)["status"].get("upgrade", {})), timeout=90)
            self.assertIn("before restarting %s" % voters[0], up_st["message"])
            time.sleep(3)
            self.assertEqual({p: get("pod", p)["metadata"]["uid"] for p in voters + pods}, before,
                             "no Kafka pod restarted while the gate is closed")
            # 2. It answers again: every broker is in the ISR of every
            #    partition it hosts; one pod at a time, in order.
            mark = os.path.getsize(OPERATOR.log)
            os.kill(broker_pid, signal.SIGCONT)
            stopped = False
            ph = ready_gen()
            self.assertEqual(ph["status"]["upgrade"]["phase"], "Complete")
            after = {p: get("pod", p)["metadata"]["uid"] for p in voters + pods}
            self.assertTrue(all(after[p] != before[p] for p in voters + pods), "every Kafka pod restarted")
            with open(OPERATOR.log) as f:
                f.seek(mark)
                order = [ln.split("upgrade: restarting ", 1)[1].split()[0] for ln in f
                         if "upgrade: restarting %s-kafka-" % name in ln]
            self.assertEqual(order, voters + pods)
            patch_ph({"spec": {"kafka": {"image": None}}})
            ready_gen()
        finally:
            if stopped:
                os.kill(broker_pid, signal.SIGCONT)
            OPERATOR.stop()
            if gates is None:
                os.environ.pop("E2E_HEALTH_GATES", None)
            else:
                os.environ["E2E_HEALTH_GATES"] = gates
            OPERATOR.start()
            subprocess.run([os.path.join(TOP, "hack", "kafka"), "down", "--dir", kdir],
                           capture_output=True, timeout=60)

    def test_10e_zookeeper_servers_behind_the_pods(self):
        """Issue 13: three Debian ZooKeeper servers on loopback play the
        ensemble behind the ZooKeeper pods (the operator reaches each pod's
        address through --connect-to; a pod the operator deletes has its
        server restarted, as a kubelet would). An image change restarts
        the followers first and the leader last, and the operator deletes
        each pod only while the ensemble is whole (one leader, every
        follower synced, by mntr), so never a second pod while the first
        is unsynced. A client (ZooKeeper's C client) writes throughout:
        no stretch without an acknowledged write lasts longer than the
        leader election measured in the same run (plus the client's
        reconnect margin), and mntr never shows two leaders."""
        if not LOCAL:
            self.skipTest("needs the operator run by the tests (--connect-to)")
        if not os.path.exists(ZK_JAR):
            self.skipTest(ZK_JAR + " missing")
        ph = ready_gen()
        name = ph_name()
        if ph["spec"]["zookeeper"]["replicas"] != 3:
            patch_ph({"spec": {"zookeeper": {"replicas": 3}}})
            ready_gen()
        pods = ["%s-zookeeper-%d" % (name, i) for i in range(3)]
        zk = ZkEnsemble(os.path.join(os.environ.get("E2E_DIR", "/tmp"), "zk-ensemble"))
        gates = os.environ.get("E2E_HEALTH_GATES")
        kubelet = writer = monitor = None
        try:
            # Pod i is server 3 - i; servers 3 and 2 form the quorum first,
            # so server 3 (pod 0) leads: not the highest ordinal.
            zk.start(3)
            zk.start(2)
            wait_for("a leader", lambda: zk.leader() is not None, timeout=60)
            zk.start(1)
            wait_for("the ensemble whole", zk.whole, timeout=60)
            leader = pods[3 - zk.leader()]
            self.assertEqual(OPERATOR.stop(), 0)
            os.environ["E2E_HEALTH_GATES"] = "clickhouse,zookeeper"
            maps = ["--connect-to=%s.%s-zookeeper-headless.%s.svc:2181:127.0.0.1:%d" % (
                p, name, NS, zk.client_port(3 - i)) for i, p in enumerate(pods)]
            OPERATOR.start(*maps)
            ready_gen()
            tag = get("statefulset", name + "-zookeeper")["spec"]["template"]["spec"]["containers"][0][
                "image"].rsplit(":", 1)[1]
            kubelet = ZkKubelet(name, zk, pods)
            kubelet.start()
            # A client writes to the ensemble throughout; mntr is read
            # from every server all along.
            writer = ZkWriter(",".join("127.0.0.1:%d" % zk.client_port(i) for i in (1, 2, 3)))
            monitor = ZkMonitor(zk)
            mark = os.path.getsize(OPERATOR.log)
            t_patch = time.monotonic()
            patch_ph({"spec": {"zookeeper": {"image": {"tag": tag + "-13e"}}}})
            ready_gen()
            # Ready comes with the pods; the plan completes once the last
            # restarted server (the leader) has rejoined the ensemble.
            wait_for("the plan Complete", lambda: get("posthog", name)["status"].get(
                "upgrade", {}).get("phase") == "Complete", timeout=180)
            wait_for("every server back", zk.whole, timeout=60)
            time.sleep(1)
            writer.stop()
            monitor.stop()
            all_seen = list(kubelet.seen)
            print("\n  deletions seen (pod, ensemble whole, leader): %r" % (all_seen,), file=sys.stderr)
            with open(OPERATOR.log) as f:
                f.seek(mark)
                order = [ln.split("upgrade: restarting ", 1)[1].split()[0] for ln in f
                         if "upgrade: restarting %s-zookeeper-" % name in ln]
            # The operator's restarts (its log) are the plan: each pod once,
            # the leader last. The watch sometimes also sees a recreated pod
            # deleted once more, by kwok's by-name delete (docs/upgrades.md):
            # the first deletion of each pod is the operator's.
            self.assertEqual(sorted(order), sorted(pods), "each pod restarted once")
            self.assertEqual(order[-1:], [leader], "the leader last")
            seen, firsts = [], set()
            for s in all_seen:
                if s[0] not in firsts:
                    firsts.add(s[0])
                    seen.append(s)
            self.assertEqual(order, [s[0] for s in seen])
            for pod, whole, _ in seen:
                self.assertTrue(whole, "%s deleted while the ensemble was not whole" % pod)
            # The writer: no outage longer than one leader election. The
            # election is measured here: from the kill of the leader's
            # server to the first mntr in which a server leads again (a
            # server answers mntr only once it serves, so that is when the
            # new leader has its quorum). The margin is the client's part:
            # a follower drops its clients when it loses its leader, and
            # the C client goes through the server list, pausing
            # recv_timeout/60 after each full round (zookeeper.c,
            # zookeeper_interest), then sends the queued write.
            self.assertEqual(monitor.two_leaders(), [], "mntr showed two leaders at once")
            self.assertGreater(len(monitor.samples), 50)
            self.assertTrue(kubelet.leader_stops, "the leader's server was restarted")
            stop, gone = kubelet.leader_stops[0]
            back = monitor.leader_after(gone)
            self.assertIsNotNone(back, "a new leader after the leader's restart")
            election = back[1] - stop
            failed = writer.failed()
            outages = writer.outages()
            acked = len(writer.writes) - len(failed)
            longest = max((o[1] - o[0] for o in outages), default=0.0)
            print("  writer: %d writes acknowledged, %d failed:%s" % (acked, len(failed), "".join(
                "\n    +%.3fs rc %d" % (w[0] - t_patch, w[2]) for w in failed)), file=sys.stderr)
            print("  outages (from, length, failed writes): %r" % (
                [("+%.2fs" % (o[0] - t_patch), "%.2fs" % (o[1] - o[0]), o[2]) for o in outages],),
                file=sys.stderr)
            print("  election: %.2fs after the leader's kill at +%.2fs; longest outage %.2fs"
                  " (margin %.1fs)" % (election, stop - t_patch, longest, ZK_CLIENT_MARGIN), file=sys.stderr)
            self.assertGreater(acked, 100)
            for o in outages:
                self.assertLessEqual(o[1] - o[0], election + ZK_CLIENT_MARGIN,
                                     "an outage of %.2fs from +%.2fs (%d failed writes), longer than the"
                                     " election (%.2fs) and the margin" % (o[1] - o[0], o[0] - t_patch,
                                                                         o[2], election))
        finally:
            for w in (writer, monitor):
                if w and not w.stopping.is_set():
                    w.stop()
            patch_ph({"spec": {"zookeeper": {"image": None}}})
            try:
                ready_gen()
            finally:
                if kubelet:
                    kubelet.stop()
                OPERATOR.stop()
                if gates is None:
                    os.environ.pop("E2E_HEALTH_GATES", None)
                else:
                    os.environ["E2E_HEALTH_GATES"] = gates
                OPERATOR.start()
                zk.stop_all()

    def test_02_resync_makes_no_writes(self):
        if not can_count_writes():
            self.skipTest("needs the API server's request or audit log")
        ready_gen()
        log = WriteLog()
        self.assertEqual(OPERATOR.stop(), 0, "a clean shutdown on SIGTERM")
        OPERATOR.start("--sync-period", "3s")
        wait_for("the operator's first reconcile", lambda: OPERATOR.reconciles() >= 1, timeout=30)
        time.sleep(1)
        log.mark()
        before = OPERATOR.reconciles()
        time.sleep(8)  # more than two resync periods
        self.assertIsNone(OPERATOR.proc.poll(), "the operator is running")
        self.assertGreaterEqual(OPERATOR.reconciles() - before, 2, "resyncs reconciled the PostHog")
        self.assertEqual(log.writes(), [], "writes after Ready during resyncs")
        # The caches answer everything: the restart plan does not list the
        # stateful pods while their StatefulSets show every pod updated and
        # Ready (upgrade.c), and the ClickHouse Secret is cached.
        self.assertEqual(log.reads(), [], "reads after Ready during resyncs")
        OPERATOR.stop()
        OPERATOR.start()

    def test_02c_one_connection_to_the_api_server(self):
        """Over HTTPS (HTTP/2 through ALPN) every request and watch of the
        operator is a stream of one connection (pkg/kube/streams.c); over
        clear-text HTTP/1.1 each concurrent request needs its own."""
        ready_gen()
        server = subprocess.run(["kubectl", "config", "view", "--minify", "-o",
                                 "jsonpath={.clusters[0].cluster.server}"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if not server.startswith("https://"):
            self.skipTest("a clear-text API server (%s): HTTP/1.1" % server)
        hostport = server[len("https://"):].split("/", 1)[0]
        port = int(hostport.rsplit(":", 1)[1]) if ":" in hostport else 443
        pid = OPERATOR.proc.pid

        def conns():
            out = subprocess.run(["ss", "-Htnp", "state", "established", "dport", "=", ":%d" % port],
                                 capture_output=True, text=True, check=True).stdout
            return [ln for ln in out.splitlines() if "pid=%d," % pid in ln]
        # Every informer's watch is open now, and the requests of the
        # reconciles that brought the PostHog Ready are done.
        self.assertEqual(len(conns()), 1, conns())

    def test_02b_noncanonical_quantities_then_no_op_writes_nothing(self):
        """Resources written as cpu "1.5", memory 1024Mi and cpu 1000m: the
        API server stores 1500m, 1Gi and 1. The PostHog reaches Ready, and
        an event that changes nothing the operator owns (an annotation on
        the PostHog) makes it reconcile and write nothing."""
        if not can_count_writes():
            self.skipTest("needs the API server's request or audit log")
        ready_gen()
        name = ph_name()
        # (requests must not exceed limits: a real API server refuses that)
        res = {"requests": {"cpu": "1000m", "memory": "1024Mi"},
               "limits": {"cpu": "1.5", "memory": "1024Mi"}}
        patch_ph({"spec": {"zookeeper": {"resources": res},
                           "pluginServer": {"ingestion": {"resources": res}}}})
        ready_gen()
        dep = get("deployment", name + "-plugins-ingestion-0")
        got = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
        self.assertEqual(got, {"requests": {"cpu": "1", "memory": "1Gi"},
                               "limits": {"cpu": "1500m", "memory": "1Gi"}})
        zk = get("statefulset", name + "-zookeeper")
        self.assertEqual(zk["spec"]["template"]["spec"]["containers"][0]["resources"], got)
        time.sleep(2)   # let the rollouts' status updates settle
        log = WriteLog()
        log.mark()
        before = OPERATOR.reconciles()
        kubectl("annotate", "posthog", name, "e2e.posthog.com/poke=%d" % time.time(),
                "--overwrite")
        wait_for("a reconcile after the annotation",
                 lambda: OPERATOR.reconciles() > before, timeout=30, interval=0.2)
        time.sleep(3)
        writes = log.writes()
        print("\n  operator writes after the no-op event: %d %r" % (len(writes), writes),
              file=sys.stderr)
        self.assertEqual(writes, [], "writes after a no-op event")

    def test_03_scale_components(self):
        ready_gen()
        name = ph_name()
        patch_ph({"spec": {"kafka": {"brokers": 2},
                           "pluginServer": {"ingestion": {"replicas": 2}}}})
        wait_for("kafka scaled", lambda: get("statefulset", name + "-kafka")["spec"]["replicas"] == 2)
        wait_for("ingestion scaled",
                 lambda: get("deployment", name + "-plugins-ingestion-0")["spec"]["replicas"] == 2)
        # (A change of clickhouse.shards starts a reshard plan and its Job:
        # e2e/reshard, on three real ClickHouse servers.)
        ph = ready_gen()
        self.assertEqual(ph["status"]["components"]["zookeeper"]["readyReplicas"], 3)
        self.assertEqual(ph["status"]["components"]["kafka"]["brokers"], 2)
        self.assertIn("Scaled", event_reasons(name))

    def test_03a_zookeeper_grows_only_through_the_ensemble(self):
        """Issue 16: ZooKeeper's membership changes by reconfig, one
        member at a time, against the ensemble itself. The pods here run
        nothing, so no ensemble answers: the operator adds no pod and says
        why, and setting the size back settles it."""
        ph = ready_gen()
        name = ph_name()
        before = get("statefulset", name + "-zookeeper")["spec"]["replicas"]
        patch_ph({"spec": {"zookeeper": {"replicas": before + 2}}})
        c = wait_for("ZooKeeperReady False with the membership step", lambda: (
            lambda c: c if c and c["status"] == "False" and "ZooKeeper membership" in c["message"]
            else None)(condition(get("posthog", name), "ZooKeeperReady")))
        self.assertIn("zookeeper", c["message"])
        time.sleep(2)
        self.assertEqual(get("statefulset", name + "-zookeeper")["spec"]["replicas"], before)
        patch_ph({"spec": {"zookeeper": {"replicas": before}}})
        ph = ready_gen()
        self.assertEqual(get("statefulset", name + "-zookeeper")["spec"]["replicas"], before)

    def test_03c_kafka_controllers_apart_and_drain_before_shrink(self):
        """Issue 16: a KRaft controller StatefulSet beside the brokers;
        adding a broker runs a move Job after it started; removing one
        runs the drain Job first, and the broker StatefulSet shrinks only
        once that Job completed. The operator keeps the last move's Job
        (status lastMoveJob) until the next move, so the Job that justified
        the shrink is still there to read however slowly this polls."""
        ph = ready_gen()
        name = ph_name()
        ctl = get("statefulset", name + "-kafka-controller")
        self.assertEqual(ctl["spec"]["replicas"], ph["spec"]["kafka"].get("controllers", 3))
        self.assertIn("process.roles=controller\n",
                      get("configmap", name + "-kafka-controller")["data"]["server.properties"])
        props = get("configmap", name + "-kafka")["data"]["server.properties"]
        self.assertIn("process.roles=broker\n", props)
        self.assertIn("controller.quorum.voters=1000@%s-kafka-controller-0." % name, props)
        b = get("statefulset", name + "-kafka")["spec"]["replicas"]
        # The replication factor stays b, so that going back to b is allowed.
        patch_ph({"spec": {"kafka": {"brokers": b + 1, "topics": {"replicationFactor": b}}}})
        wait_for("broker StatefulSet at %d" % (b + 1),
                 lambda: get("statefulset", name + "-kafka")["spec"]["replicas"] == b + 1)
        ph = ready_gen()
        kafka = ph["status"]["components"]["kafka"]
        self.assertEqual(kafka["brokers"], b + 1)
        grow_job = kafka.get("lastMoveJob", "")
        self.assertTrue(grow_job.startswith("%s-kafka-move-%d-%d-" % (name, b, b + 1)), kafka)
        self.assertIn("KafkaReplicasSpread", event_reasons(name))
        patch_ph({"spec": {"kafka": {"brokers": b}}})
        marker = "%s-kafka-move-%d-%d-" % (name, b + 1, b)

        def drain_jobs():
            return [j for j in get("jobs", selector="app.kubernetes.io/instance=" + name)["items"]
                    if j["metadata"]["name"].startswith(marker)]

        def complete(j):
            return any(c["type"] == "Complete" and c["status"] == "True"
                       for c in (j.get("status") or {}).get("conditions") or [])

        # Each round reads the StatefulSet, then the Jobs. Completion never
        # goes back, so a drain Job read not complete after a shrunk
        # StatefulSet proves a shrink before completion; the Job is kept
        # once complete, so in the round that first sees the shrink it is
        # there to read.
        running_beside_full = False
        deadline = time.time() + 120
        while True:
            self.assertLess(time.time(), deadline, "the broker StatefulSet never shrank")
            replicas = get("statefulset", name + "-kafka")["spec"]["replicas"]
            jobs = drain_jobs()
            if replicas == b:
                self.assertEqual(len(jobs), 1, "one drain Job, kept once the StatefulSet shrank")
                self.assertTrue(complete(jobs[0]),
                                "the StatefulSet shrank before the drain Job completed")
                break
            self.assertEqual(replicas, b + 1)
            running_beside_full = running_beside_full or any(not complete(j) for j in jobs)
            time.sleep(0.1)
        job = jobs[0]
        print("\n  drain Job seen running beside %d brokers: %s" % (b + 1, running_beside_full),
              file=sys.stderr)
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertEqual(env["REMOVED"], str(b))
        self.assertEqual(env["KEEP"], ",".join(str(i) for i in range(b)))
        self.assertIn("kafka-reassign-partitions.sh", job["spec"]["template"]["spec"]["containers"][0]["command"][2])
        self.assertGreaterEqual(job["status"].get("succeeded", 0), 1, "the drain Job's pod succeeded")
        ph = ready_gen()
        kafka = ph["status"]["components"]["kafka"]
        self.assertEqual(kafka["brokers"], b)
        # The operator recorded the drain it acted on, with an Event, and
        # keeps its Job; the growth's Job is gone now that this one
        # replaced it.
        self.assertEqual(kafka.get("lastMoveJob"), job["metadata"]["name"])
        self.assertIn("shrinks from %d to %d" % (b + 1, b), kafka.get("lastMove", ""))
        self.assertIn("KafkaBrokersDrained", event_reasons(name))
        self.assertTrue(complete(get("job", job["metadata"]["name"])))
        wait_for("the growth's move Job pruned", lambda: not get("job", grow_job, check=False))
        patch_ph({"spec": {"kafka": {"topics": {"replicationFactor": None}}}})
        ready_gen()

    def test_03b_autoscaling_takes_over_replicas_without_a_dip(self):
        """Issue 21 item 5: enabling autoscaling hands spec.replicas to the
        HPA at its current value (server-side apply's ownership transfer);
        it never drops to the default of 1."""
        ready_gen()
        name = ph_name()
        dep = name + "-plugins-ingestion-0"
        patch_ph({"spec": {"pluginServer": {"ingestion": {"replicas": 3}}}})
        wait_for("ingestion at 3", lambda: get("deployment", dep)["spec"]["replicas"] == 3)
        ready_gen()
        hash_before = get("deployment", dep)["metadata"]["annotations"]["posthog.com/desired-hash"]
        patch_ph({"spec": {"pluginServer": {"ingestion": {"autoscaling": {
            "enabled": True, "minReplicas": 2, "maxReplicas": 6}}}}})
        seen = []
        deadline = time.time() + 60
        while time.time() < deadline:
            d = get("deployment", dep)
            seen.append(d["spec"].get("replicas"))
            if d["metadata"]["annotations"]["posthog.com/desired-hash"] != hash_before and \
                    get("hpa", dep, check=False):
                break
            time.sleep(0.2)
        for _ in range(10):  # and a while after the apply
            seen.append(get("deployment", dep)["spec"].get("replicas"))
            time.sleep(0.3)
        self.assertNotEqual(get("deployment", dep)["metadata"]["annotations"]["posthog.com/desired-hash"],
                            hash_before, "the operator applied the Deployment without replicas")
        self.assertEqual(set(seen), {3}, "spec.replicas while autoscaling took over")
        # The HPA's scale (here kubectl scale, through the same scale
        # subresource) now owns replicas: the operator leaves it alone.
        kubectl("scale", "deployment", dep, "--replicas=4")
        patch_ph({"metadata": {"annotations": {"e2e/poke": str(time.time())}}})
        ready_gen()
        time.sleep(2)
        self.assertEqual(get("deployment", dep)["spec"]["replicas"], 4)
        patch_ph({"spec": {"pluginServer": {"ingestion": {"replicas": 2, "autoscaling": None}}}})
        wait_for("ingestion back at 2", lambda: get("deployment", dep)["spec"]["replicas"] == 2)
        wait_for("HPA removed", lambda: get("hpa", dep, check=False) is None)
        ready_gen()

    def test_04_buckets_added_and_removed(self):
        ready_gen()
        name = ph_name()
        patch_ph({"spec": {"buckets": {"count": 3}}})
        ph = ready_gen()
        self.assertEqual(ph["status"]["ready"], "3/3")
        for b in range(3):
            get("deployment", "%s-plugins-ingestion-%d" % (name, b))
            get("deployment", "%s-plugins-async-%d" % (name, b))
        self.assertTrue({"kafka_events_json_2", "events_json_mv_2"} <= bucket_tables())
        wait_for("BucketsAdded event", lambda: "BucketsAdded" in event_reasons(name), timeout=30)
        # A pin to the bucket being removed refuses the change.
        patch_ph({"spec": {"buckets": {"pins": [{"teamId": 7, "bucket": 2}]}}})
        ready_gen()
        p = kubectl("patch", "posthog", name, "--type", "merge", "-p",
                    json.dumps({"spec": {"buckets": {"count": 2}}}), check=False)
        if p.returncode == 0:
            wait_for("refusal condition", lambda: condition(get("posthog", name), "Degraded")["status"] == "True")
            get("deployment", "%s-plugins-ingestion-2" % name)  # nothing deleted
        patch_ph({"spec": {"buckets": {"count": 2, "pins": None}}})
        ready_gen()
        wait_for("bucket 2 removed",
                 lambda: get("deployment", "%s-plugins-ingestion-2" % name, check=False) is None)
        wait_for("bucket 2 tables dropped", lambda: "kafka_events_json_2" not in bucket_tables())
        self.assertIn("kafka_events_json_1", bucket_tables())

    def test_04c_router_follows_spec_and_is_pruned(self):
        ph = ready_gen()
        name = ph_name()
        router = name + "-router"

        def container():
            d = get("deployment", router, check=False)
            return d and d["spec"]["template"]["spec"]["containers"][0]

        ct = wait_for("router Deployment", container)
        dep = get("deployment", router)
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertEqual(ct["args"][0], "route")
        args = set(ct["args"])
        for a in ("--source-topic=events_plugin_ingestion",
                  "--bucket-map=/etc/posthog-buckets/buckets.json",
                  "--kafka-bootstrap-servers=%s-kafka.%s.svc:9092" % (name, NS),
                  "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080"):
            self.assertIn(a, args)
        # The router runs from the operator's own image.
        if LOCAL:
            binary = os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator/posthog-operator")
            version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.split()[-1]
            self.assertEqual(ct["image"], "ghcr.io/posthog-operator/posthog-operator:" + version)
        elif OPERATOR_NS:
            op = get_in(OPERATOR_NS, "deployments", "app.kubernetes.io/name=posthog-operator")
            self.assertEqual(ct["image"], op["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"])
        env = {e["name"]: e for e in ct["env"]}
        self.assertEqual(env["DATABASE_URL"]["valueFrom"]["secretKeyRef"],
                         {"name": ph["spec"]["postgres"]["urlSecret"]["name"],
                          "key": ph["spec"]["postgres"]["urlSecret"]["key"]})
        self.assertEqual((ct["livenessProbe"]["httpGet"]["path"], ct["livenessProbe"]["httpGet"]["port"]),
                         ("/healthz", "health"))
        self.assertEqual(ct["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual({p["name"]: p["containerPort"] for p in ct["ports"]},
                         {"metrics": 8080, "health": 8081})
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(vols["bucket-map"]["configMap"]["name"], name + "-buckets")
        self.assertIn("buckets.json", get("configmap", name + "-buckets")["data"])
        pdb = get("pdb", router)
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"], dep["spec"]["selector"]["matchLabels"])
        self.assertEqual(pdb["metadata"]["ownerReferences"][0]["uid"], ph["metadata"]["uid"])
        # It follows the spec.
        patch_ph({"spec": {"router": {"replicas": 3, "sourceTopic": "capture_events",
                                      "resources": {"limits": {"memory": "128Mi"}}}}})
        wait_for("router follows spec.router", lambda: (lambda d: d["spec"]["replicas"] == 3
                 and "--source-topic=capture_events" in d["spec"]["template"]["spec"]["containers"][0]["args"]
                 and d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "128Mi")(
                     get("deployment", router)))
        # Turned off: the Deployment and its PDB are removed.
        patch_ph({"spec": {"router": {"enabled": False}}})
        wait_for("router removed", lambda: get("deployment", router, check=False) is None
                 and get("pdb", router, check=False) is None)
        ready_gen()
        self.assertIsNone(get("deployment", router, check=False))
        # And back.
        patch_ph({"spec": {"router": None}})
        wait_for("router back with defaults", lambda: (lambda d: d and d["spec"]["replicas"] == 2
                 and "--source-topic=events_plugin_ingestion"
                 in d["spec"]["template"]["spec"]["containers"][0]["args"])(
                     get("deployment", router, check=False)))
        self.assertTrue(get("pdb", router, check=False))

    def test_05_deleted_child_is_restored(self):
        ready_gen()
        dep = "%s-plugins-async-0" % ph_name()
        uid = get("deployment", dep)["metadata"]["uid"]
        kubectl("delete", "deployment", dep)
        wait_for("deployment recreated",
                 lambda: (get("deployment", dep, check=False) or {}).get("metadata", {}).get("uid") not in (None, uid))

    def test_06_owned_field_edit_is_reverted(self):
        ready_gen()
        dep = "%s-plugins-ingestion-0" % ph_name()
        want = get("deployment", dep)["spec"]["template"]["spec"]["containers"][0]["image"]
        kubectl("patch", "deployment", dep, "--type", "json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "example/tampered:1"}]))
        wait_for("image reverted", lambda: get("deployment", dep)["spec"]["template"]["spec"]["containers"][0]["image"] == want)

    def test_01b_migrate_job_spec_and_gating(self):
        ph = ready_gen()
        name = ph_name()
        row = matrix_row(ph["spec"]["version"])
        jobs = get("jobs", selector="app.kubernetes.io/instance=%s,app.kubernetes.io/component=migrate"
                   % name)["items"]
        self.assertEqual(len(jobs), 1)
        job = jobs[0]
        self.assertIn(row["version"][:7], job["metadata"]["name"])
        ct = job["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(ct["image"], "%s:%s" % (row["appImage"], row["appTag"]))
        self.assertEqual(ct["command"], row["migrateCommand"])
        env = {e["name"]: e for e in ct["env"]}
        for n in row["postgresEnv"]:
            self.assertEqual(env[n]["valueFrom"]["secretKeyRef"]["name"],
                             ph["spec"]["postgres"]["urlSecret"]["name"])
        for n in row["redisEnv"]:
            self.assertEqual(env[n]["valueFrom"]["secretKeyRef"]["name"],
                             ph["spec"]["redis"]["urlSecret"]["name"])
        for n in ("KAFKA_HOSTS", "CLICKHOUSE_HOST", "CLICKHOUSE_PASSWORD"):
            self.assertIn(n, env)
        # SECRET_KEY and ENCRYPTION_SALT_KEYS, where the row reads them,
        # from the spec's Secret keys, in the Job and every plugin-server.
        plugin_envs = [{e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
                       for d in get("deployments", selector="app.kubernetes.io/instance=%s,"
                                    "app.kubernetes.io/name=plugin-server" % name)["items"]]
        self.assertTrue(plugin_envs)
        for field, names, default in (("secretKey", row["secretKeyEnv"], "secret-key"),
                                      ("encryptionSaltKeys", row["encryptionSaltKeysEnv"],
                                       "encryption-salt-keys")):
            if row[field + "Required"]:
                self.assertIn(field, ph["spec"])
            ref = ph["spec"].get(field)
            for n in names:
                for where in [env] + plugin_envs:
                    if ref is None:
                        self.assertNotIn(n, where)
                    else:
                        self.assertEqual(where[n]["valueFrom"]["secretKeyRef"],
                                         {"name": ref["name"], "key": ref.get("key", default)})
        # The plugin-servers' own Redis clients (CDP_REDIS_HOST) from
        # spec.redis, with their constants; the Job (Django) gets neither.
        redis_ref = {"name": ph["spec"]["redis"]["urlSecret"]["name"],
                     "key": ph["spec"]["redis"]["urlSecret"].get("key", "url")}
        pairs = row["pluginServerEnv"]
        for where in plugin_envs:
            for n in row["pluginServerRedisEnv"]:
                self.assertEqual(where[n]["valueFrom"]["secretKeyRef"], redis_ref)
            for k, v in zip(pairs[0::2], pairs[1::2]):
                self.assertEqual(where[k]["value"], v)
        for n in row["pluginServerRedisEnv"]:
            self.assertNotIn(n, env)
        # Gating: the Job ran after ClickHouse was up, and no plugin-server
        # existed before it had completed.
        done = job["status"]["completionTime"]
        for d in get("deployments", selector="app.kubernetes.io/instance=%s,app.kubernetes.io/name=plugin-server"
                     % name)["items"]:
            self.assertGreaterEqual(d["metadata"]["creationTimestamp"], done, d["metadata"]["name"])
        sts = get("statefulset", name + "-clickhouse-0")
        self.assertGreaterEqual(job["metadata"]["creationTimestamp"], sts["metadata"]["creationTimestamp"])

    def test_07_invalid_spec_gives_condition(self):
        ready_gen()
        name = ph_name()
        before = get("statefulset", name + "-zookeeper")["metadata"]["generation"]
        p = kubectl("patch", "posthog", name, "--type", "merge", "-p",
                    json.dumps({"spec": {"zookeeper": {"replicas": 2}}}), check=False)
        if p.returncode != 0:
            self.assertIn("odd", p.stderr)  # a real API server's CEL rule refused it
            return
        c = wait_for("InvalidSpec", lambda: (lambda c: c if c and c["reason"] == "InvalidSpec" else None)(
            condition(get("posthog", name), "Degraded")))
        self.assertIn("spec.zookeeper.replicas", c["message"])
        self.assertEqual(get("posthog", name)["status"]["phase"], "Failed")
        self.assertEqual(get("statefulset", name + "-zookeeper")["metadata"]["generation"], before)
        patch_ph({"spec": {"zookeeper": {"replicas": 3}}})
        ready_gen()

    def test_07a_version_outside_matrix_is_refused(self):
        ready_gen()
        other = "zz-outside"  # sorts after the suite's PostHog (ph_name)
        doc = {"apiVersion": "posthog.com/v1alpha1", "kind": "PostHog", "metadata": {"name": other},
               "spec": {"version": "latest", "zookeeper": {"replicas": 1}, "kafka": {"brokers": 1},
                        "clickhouse": {"passwordSecret": {"name": "posthog-clickhouse"}},
                        "postgres": {"urlSecret": {"name": "posthog-app", "key": "database-url"}},
                        "redis": {"urlSecret": {"name": "posthog-app", "key": "redis-url"}}}}
        kubectl("apply", "-f", "-", input=json.dumps(doc))
        try:
            c = wait_for("InvalidSpec naming spec.version", lambda: (lambda c: c if c and c["reason"] == "InvalidSpec"
                         and "spec.version" in c["message"] else None)(condition(get("posthog", other), "Degraded")))
            for v in matrix_versions():
                self.assertIn(v, c["message"])
            time.sleep(2)
            for kind in ("statefulsets", "deployments", "jobs", "configmaps", "services"):
                self.assertEqual(get(kind, selector="app.kubernetes.io/instance=" + other)["items"], [], kind)
            # The escape hatch: the same version is run on request.
            kubectl("patch", "posthog", other, "--type", "merge", "-p",
                    json.dumps({"spec": {"unsupportedVersion": True}}))
            sts = wait_for("children of the unsupported version", lambda: get(
                "statefulsets", selector="app.kubernetes.io/instance=" + other)["items"])
            self.assertTrue(sts)
            job = wait_for("its migrate Job", lambda: get("job", other + "-migrate-latest", check=False))
            self.assertEqual(job["spec"]["template"]["spec"]["containers"][0]["image"], "posthog/posthog:latest")
        finally:
            kubectl("delete", "posthog", other, "--wait=false", check=False)
            wait_for("%s gone" % other, lambda: get("posthog", other, check=False) is None)

    def test_07d_failed_migration_stops_rollout(self):
        ph = ready_gen()
        name = ph_name()
        dep = "%s-plugins-ingestion-0" % name
        before = get("deployment", dep)["spec"]["template"]["spec"]["containers"][0]["image"]
        ch_tag = matrix_row(ph["spec"]["version"])["clickhouseTag"]
        # hack/test.d/60-e2e-posthog makes the local cluster fail every
        # container of an image matching posthog/posthog:broken-.
        patch_ph({"spec": {"version": "broken-1", "unsupportedVersion": True,
                           "clickhouse": {"image": {"tag": ch_tag}}}})
        c = wait_for("MigrationFailed", lambda: (lambda c: c if c and c["reason"] == "MigrationFailed"
                     else None)(condition(get("posthog", name), "Migrated")))
        self.assertIn(name + "-migrate-broken-1", c["message"])
        self.assertIn("delete the Job", c["message"])
        if LOCAL and CLUSTER == "local":
            # The local cluster leaves a failed pod whose log names the image.
            # (On hack/kube-cluster no kubelet serves logs: kwok plays it.)
            self.assertIn("last lines of pod " + name + "-migrate-broken-1-", c["message"])
            self.assertIn("posthog/posthog:broken-1", c["message"])
        cur = get("posthog", name)
        self.assertEqual(condition(cur, "Degraded")["reason"], "MigrationFailed")
        self.assertEqual(condition(cur, "Ready")["status"], "False")
        time.sleep(2)
        self.assertEqual(get("deployment", dep)["spec"]["template"]["spec"]["containers"][0]["image"], before)
        # Fixing it (here: a version whose migrations pass) lets the rollout finish.
        patch_ph({"spec": {"version": "fixed-1"}})
        ready_gen()
        self.assertEqual(get("deployment", dep)["spec"]["template"]["spec"]["containers"][0]["image"],
                         "posthog/posthog:fixed-1")
        self.assertEqual(condition(get("posthog", name), "Migrated")["status"], "True")
        self.assertIsNone(get("job", name + "-migrate-broken-1", check=False))
        patch_ph({"spec": {"version": ph["spec"]["version"], "unsupportedVersion": False,
                           "clickhouse": {"image": None}}})
        ready_gen()
        self.assertEqual(get("deployment", dep)["spec"]["template"]["spec"]["containers"][0]["image"], before)

    def test_07b_unsafe_changes_are_refused(self):
        ph = ready_gen()
        name = ph_name()
        self.assertGreaterEqual(ph["spec"]["zookeeper"]["replicas"], 3)
        cases = [
            ({"zookeeper": {"replicas": 1}}, "spec.zookeeper.replicas", "zookeeper",
             ph["spec"]["zookeeper"]["replicas"]),
        ]
        if get("statefulset", name + "-kafka")["spec"]["replicas"] >= 2:
            cases.append(({"kafka": {"brokers": 1}}, "spec.kafka.brokers", "kafka",
                          get("statefulset", name + "-kafka")["spec"]["replicas"]))
        for patch, field, sts, replicas in cases:
            with self.subTest(field=field):
                patch_ph({"spec": patch})
                c = wait_for("UnsafeChange on " + field, lambda: (lambda c: c if c and c["reason"] == "UnsafeChange"
                             and field in c["message"] else None)(condition(get("posthog", name), "Degraded")))
                self.assertEqual(get("statefulset", "%s-%s" % (name, sts))["spec"]["replicas"], replicas)
                undo = {k: dict(v) for k, v in patch.items()}
                for k, v in undo.items():
                    key = next(iter(v))
                    v[key] = ph["spec"][k][key]
                patch_ph({"spec": undo})
                ready_gen()

    def test_07c_posthog_migration_reaches_bucket_tables(self):
        if not can_restart_operator():
            self.skipTest("set E2E_OPERATOR_NAMESPACE to let the test restart the operator")
        ready_gen()
        cols = "SELECT name FROM system.columns WHERE database = 'posthog' AND table = '%s'"
        self.assertNotIn("person_mode", clickhouse(cols % "kafka_events_json_0").split())
        clickhouse_file(os.path.join(TOP, "hack/clickhouse-migration-add-column.sql"))
        # A restarted operator checks every PostHog's tables at once (a
        # running one does within its schema poll interval).
        restart_operator()
        wait_for("person_mode in every bucket table", lambda: all(
            "person_mode" in clickhouse(cols % t).split()
            for t in ("kafka_events_json_0", "kafka_events_json_1")), timeout=120)
        mv = clickhouse("SELECT create_table_query FROM system.tables WHERE database = 'posthog' "
                        "AND name = 'events_json_mv_0'")
        self.assertIn("person_mode", mv)
        self.assertIn("kafka_events_json_0", mv)
        ready_gen()

    def test_08_restart_mid_reconcile_converges(self):
        if not can_restart_operator():
            self.skipTest("set E2E_OPERATOR_NAMESPACE to let the test restart the operator")
        ready_gen()
        name = ph_name()
        patch_ph({"spec": {"buckets": {"count": 3}}})
        time.sleep(0.5)
        restart_operator(kill=True)
        ph = ready_gen()
        self.assertEqual(ph["status"]["ready"], "3/3")
        jobs = get("jobs", selector="app.kubernetes.io/instance=%s" % name)["items"]
        names = [j["metadata"]["name"] for j in jobs]
        self.assertEqual(len(names), len(set(names)))
        # One Job of each kind per bucket: the topics Job of each bucket,
        # and one of the kinds without a bucket (the migrate Job, the
        # last Kafka move Job that test_03c's moves left, issue 16).
        per_bucket = {}
        for j in jobs:
            key = (j["metadata"]["labels"].get("app.kubernetes.io/component"),
                   j["metadata"]["labels"].get("posthog.com/bucket"))
            per_bucket[key] = per_bucket.get(key, 0) + 1
        self.assertTrue(all(n == 1 for n in per_bucket.values()), per_bucket)

    def hold_fault(self, start, errors_before):
        """Keeps the fault until FAULT_SECONDS after start, then checks the
        failure reached the work queue as an error (not swallowed)."""
        time.sleep(max(0.0, FAULT_SECONDS - (time.time() - start)))
        self.assertGreater(OPERATOR.errors(), errors_before,
                           "the failed reconciles were reported to the work queue")

    def test_09a_statefulset_apply_500s_recover(self):
        if not FAULTS:
            self.skipTest("needs the local API server's fault injection")
        ph = ready_gen()
        name = ph_name()
        brokers = ph["spec"]["kafka"]["brokers"] + 1
        start, errors = time.time(), OPERATOR.errors()
        try:
            operator_fault(r"/statefulsets(/|$)", ["patch"])
            patch_ph({"spec": {"kafka": {"brokers": brokers}}})
            wait_for("ApplyFailed", lambda: degraded_reason(name) == "ApplyFailed",
                     timeout=FAULT_SECONDS)
            self.hold_fault(start, errors)
        finally:
            set_faults({"reset": True})
        ready_within(RECOVERY_SECONDS)
        self.assertEqual(get("statefulset", name + "-kafka")["spec"]["replicas"], brokers)
        self.assertEqual(condition(get("posthog", name), "Degraded")["status"], "False")

    def test_09b_clickhouse_outage_in_schema_stage_recovers(self):
        if not LOCAL:
            self.skipTest("stops the local ClickHouse")
        ph = ready_gen()
        name = ph_name()
        new = bucket_count(ph)  # the index of the bucket added
        ch = [os.path.join(TOP, "hack/clickhouse"), "--dir", os.path.join(os.environ["E2E_DIR"], "clickhouse")]
        start, errors = time.time(), OPERATOR.errors()
        subprocess.run([ch[0], "down", *ch[1:]], check=True, capture_output=True, timeout=60)
        try:
            patch_ph({"spec": {"buckets": {"count": new + 1}}})
            wait_for("ClickHouseError", lambda: degraded_reason(name, "SchemaReady") == "ClickHouseError",
                     timeout=FAULT_SECONDS)
            self.hold_fault(start, errors)
        finally:
            subprocess.run([ch[0], "up", *ch[1:]], check=True, capture_output=True, timeout=120)
        ready_within(RECOVERY_SECONDS)
        self.assertIn("kafka_events_json_%d" % new, bucket_tables())

    def test_09c_failed_prune_recovers(self):
        if not FAULTS:
            self.skipTest("needs the local API server's fault injection")
        ph = ready_gen()
        name = ph_name()
        if bucket_count(ph) < 2:
            patch_ph({"spec": {"buckets": {"count": 2}}})
            ph = ready_gen()
        gone = bucket_count(ph) - 1  # the bucket removed
        start, errors = time.time(), OPERATOR.errors()
        try:
            operator_fault(r"/deployments/", ["delete"])
            patch_ph({"spec": {"buckets": {"count": gone}}})
            wait_for("PruneFailed", lambda: degraded_reason(name) == "PruneFailed",
                     timeout=FAULT_SECONDS)
            self.hold_fault(start, errors)
            self.assertIsNotNone(get("deployment", "%s-plugins-ingestion-%d" % (name, gone), check=False))
        finally:
            set_faults({"reset": True})
        cleared = time.time()
        ready_within(RECOVERY_SECONDS)
        wait_for("bucket %d's Deployments pruned" % gone,
                 lambda: get("deployment", "%s-plugins-ingestion-%d" % (name, gone), check=False) is None
                 and get("deployment", "%s-plugins-async-%d" % (name, gone), check=False) is None,
                 timeout=max(1.0, RECOVERY_SECONDS - (time.time() - cleared)))

    def test_08b_password_with_control_characters_is_refused(self):
        """Issue 21 item 1: a password Secret holding CR/LF (a smuggled
        request), another control character or a trailing newline never
        reaches a header; the PostHog names the Secret and key."""
        ready_gen()
        name = ph_name()
        start = len(request_log_lines()) if FAULTS else 0
        smuggled = ("change-me\r\n\r\nGET /api/v1/namespaces/kube-system/secrets HTTP/1.1\r\n"
                    "Host: x\r\nUser-Agent: smuggled\r\n\r\n")
        cases = [("ph-pw-crlf", smuggled, "0x0D"), ("ph-pw-ctl", "change\x01me", "0x01"),
                 ("ph-pw-lf", "change\nme", "0x0A"), ("ph-pw-two-nl", "change-me\n\n", "0x0A")]
        try:
            for secret, value, byte in cases:
                with self.subTest(secret=secret):
                    create_secret(secret, value)
                    patch_ph({"spec": {"clickhouse": {"passwordSecret": {"name": secret}}}})
                    c = wait_for("InvalidSecret for " + secret, lambda: (lambda c: c if c and c["reason"] == "InvalidSecret"
                                 and secret in c["message"] else None)(condition(get("posthog", name), "Degraded")),
                                 timeout=60)
                    self.assertIn('Secret %s/%s key "password"' % (NS, secret), c["message"])
                    self.assertIn(byte, c["message"])
                    self.assertNotIn("change", c["message"], "the password is not shown")
                    self.assertEqual(condition(get("posthog", name), "Ready")["status"], "False")
            # One trailing newline, as `kubectl create secret --from-file`
            # leaves, is ignored: the PostHog is Ready with that Secret.
            create_secret("ph-pw-nl", "change-me\n")
            patch_ph({"spec": {"clickhouse": {"passwordSecret": {"name": "ph-pw-nl"}}}})
            ph = ready_gen()
            self.assertEqual(condition(ph, "SchemaReady")["status"], "True")
        finally:
            patch_ph({"spec": {"clickhouse": {"passwordSecret": {"name": "posthog-clickhouse"}}}})
        ready_gen()
        if FAULTS:
            lines = request_log_lines()[start:]
            self.assertTrue(lines, "the request log grew")
            foreign = [(r["verb"], r["path"], r.get("userAgent")) for r in lines
                       if "kube-system" in r["path"] or "smuggled" in r.get("userAgent", "")
                       or not r.get("userAgent", "").startswith(("posthog-operator", "kubectl"))]
            self.assertEqual(foreign, [], "requests other than the operator's and kubectl's own")

    def test_08c_two_posthogs_on_one_database(self):
        """Issue 21 item 2: a second PostHog pointed at the database that
        holds the first's bucket tables is refused with a condition, and
        neither drops the other's tables, also on deletion with Delete."""
        ready_gen()
        name = ph_name()
        ns_b = NS + "-b"
        subprocess.run(["kubectl", "create", "namespace", ns_b], capture_output=True, timeout=60)
        create_secret("posthog-clickhouse", "change-me", namespace=ns_b)
        ours = bucket_tables()
        self.assertIn("kafka_events_json_1", ours, "the first PostHog has more than one bucket")
        other_posthog(name, ns_b, deletionPolicy="Delete", buckets={"count": 1})

        def get_b():
            p = subprocess.run(["kubectl", "-n", ns_b, "get", "posthog", name, "-o", "json"],
                               capture_output=True, text=True, timeout=60)
            return json.loads(p.stdout) if p.returncode == 0 else None

        c = wait_for("DatabaseInUse on the second PostHog", lambda: (lambda c: c if c and c["reason"] == "DatabaseInUse"
                     else None)(condition(get_b(), "Degraded")))
        self.assertIn("%s/%s" % (NS, name), c["message"].replace("'", ""))
        self.assertIn("spec.clickhouse.database", c["message"])
        self.assertNotEqual(get_b()["status"].get("phase"), "Ready")
        time.sleep(5)  # a few more reconciles of both
        self.assertTrue(ours <= bucket_tables(), "the first PostHog's tables survive the second")
        self.assertEqual(condition(get("posthog", name), "Ready")["status"], "True")
        subprocess.run(["kubectl", "-n", ns_b, "delete", "posthog", name, "--wait=false"],
                       capture_output=True, timeout=60, check=True)
        wait_for("second PostHog gone", lambda: get_b() is None)
        self.assertTrue(ours <= bucket_tables(), "deleting the second (Delete) keeps the first's tables")
        subprocess.run(["kubectl", "delete", "namespace", ns_b, "--wait=false"], capture_output=True, timeout=60)
        ready_gen()

    def test_08d_blocked_deletion_shows_and_can_finish(self):
        """Issue 21 item 3: a deletion with Delete whose password Secret is
        gone (as when its namespace is deleted) shows what blocks it in
        status and Events, and finishes once the user accepts leaving the
        tables."""
        name = "posthog"
        ns_d = NS + "-del"
        subprocess.run(["kubectl", "create", "namespace", ns_d], capture_output=True, timeout=60)
        create_secret("posthog-clickhouse", "change-me", namespace=ns_d)
        other_posthog(name, ns_d, deletionPolicy="Delete", clickhouse={"database": "posthog_del"})

        def get_d():
            p = subprocess.run(["kubectl", "-n", ns_d, "get", "posthog", name, "-o", "json"],
                               capture_output=True, text=True, timeout=60)
            return json.loads(p.stdout) if p.returncode == 0 else None

        wait_for("finalizer", lambda: "posthog.com/finalizer" in (get_d() or {}).get("metadata", {}).get("finalizers", []))
        subprocess.run(["kubectl", "-n", ns_d, "delete", "secret", "posthog-clickhouse"],
                       capture_output=True, timeout=60, check=True)
        subprocess.run(["kubectl", "-n", ns_d, "delete", "posthog", name, "--wait=false"],
                       capture_output=True, timeout=60, check=True)
        c = wait_for("Deleting condition", lambda: (lambda c: c if c and c["status"] == "True" else None)(
            condition(get_d(), "Deleting")), timeout=60)
        self.assertIn("Secret %s/posthog-clickhouse" % ns_d, c["message"])
        self.assertIn("posthog.com/keep-clickhouse-tables", c["message"])
        ph = get_d()
        self.assertEqual(ph["status"]["phase"], "Deleting")
        self.assertEqual(condition(ph, "Ready")["status"], "False")
        wait_for("DeletionBlocked event", lambda: "DeletionBlocked" in event_reasons(name, ns_d), timeout=30)
        subprocess.run(["kubectl", "-n", ns_d, "annotate", "posthog", name,
                        "posthog.com/keep-clickhouse-tables=true"], capture_output=True, timeout=60, check=True)
        wait_for("PostHog gone", lambda: get_d() is None, timeout=60)
        wait_for("TablesLeft event", lambda: "TablesLeft" in event_reasons(name, ns_d), timeout=30)
        subprocess.run(["kubectl", "delete", "namespace", ns_d, "--wait=false"], capture_output=True, timeout=60)

    def test_08e_database_change_moves_bucket_tables(self):
        """Issue 21 item 6: changing spec.clickhouse.database moves the
        bucket tables: none are left consuming the bucket topics in the old
        database."""
        ph = ready_gen()
        name = ph_name()
        n = ph["spec"]["buckets"]["count"]
        seed_database("posthog_moved")

        def tables(db):
            return set(clickhouse("SELECT name FROM system.tables WHERE database = '%s' AND "
                                  "match(name, '^(kafka_events_json|events_json_mv)_[0-9]+$')" % db).split())

        want = {"%s_%d" % (t, b) for t in ("kafka_events_json", "events_json_mv") for b in range(n)}
        self.assertEqual(tables("posthog"), want)
        try:
            patch_ph({"spec": {"clickhouse": {"database": "posthog_moved"}}})
            ph = ready_gen()
            self.assertEqual(tables("posthog"), set(), "nothing left consuming in the old database")
            self.assertEqual(tables("posthog_moved"), want)
            self.assertEqual(ph["status"]["clickhouseSchema"]["database"], "posthog_moved")
            self.assertIn("TablesMoved", event_reasons(name))
        finally:
            patch_ph({"spec": {"clickhouse": {"database": None}}})
        ph = ready_gen()
        self.assertEqual(tables("posthog"), want)
        self.assertEqual(tables("posthog_moved"), set())

    def test_08f_clickhouse_error_does_not_freeze_plugin_servers(self):
        """Issue 21 item 7: while ClickHouse cannot be read (here: the
        password Secret is missing), a replica change still reaches the
        plugin-servers and a bucket whose Deployments are available is
        ready; SchemaReady carries the error."""
        ready_gen()
        name = ph_name()
        dep = name + "-plugins-async-0"
        before = get("deployment", dep)["spec"]["replicas"]
        try:
            patch_ph({"spec": {"clickhouse": {"passwordSecret": {"name": "no-such-secret"}},
                               "pluginServer": {"async": {"replicas": before + 1}}}})
            wait_for("async replicas applied", lambda: get("deployment", dep)["spec"]["replicas"] == before + 1,
                     timeout=60)
            # The changed password rolls the ClickHouse pods first, so
            # SchemaReady may say "ClickHouse is not ready yet" for a while
            # before the schema stage reads the Secret and names it.
            ph = wait_for("SchemaReady False naming the missing Secret", lambda: (
                lambda ph: ph if condition(ph, "SchemaReady")["status"] == "False"
                and "no-such-secret" in condition(ph, "SchemaReady")["message"]
                and ph["status"]["observedGeneration"] == ph["metadata"]["generation"] else None)(
                    get("posthog", name)), timeout=120)
            self.assertIn("no-such-secret", condition(ph, "SchemaReady")["message"])
            b0 = wait_for("bucket 0 ready", lambda: (lambda b: b if b["ready"] else None)(
                get("posthog", name)["status"]["buckets"][0]), timeout=60)
            self.assertEqual(b0["async"]["replicas"], before + 1)
        finally:
            patch_ph({"spec": {"clickhouse": {"passwordSecret": {"name": "posthog-clickhouse"}},
                               "pluginServer": {"async": {"replicas": before}}}})
        ready_gen()

    def test_08g_missing_database_is_waiting_for_migrations(self):
        """Issue 21 item 7: a database that PostHog's migrations have not
        created yet is WaitingForMigrations, not Degraded."""
        ready_gen()
        name = ph_name()
        try:
            patch_ph({"spec": {"clickhouse": {"database": "posthog_not_yet"}}})
            c = wait_for("WaitingForMigrations", lambda: (lambda c: c if c and c["reason"] == "WaitingForMigrations"
                         else None)(condition(get("posthog", name), "SchemaReady")), timeout=60)
            self.assertIn("posthog_not_yet", c["message"])
            ph = get("posthog", name)
            self.assertEqual(condition(ph, "Degraded")["status"], "False")
            self.assertNotIn(ph["status"]["phase"], ("Degraded", "Failed"))
        finally:
            patch_ph({"spec": {"clickhouse": {"database": None}}})
        ready_gen()

    def test_08h_events_follow_the_status_write(self):
        """Issue 21 item 7: while the status write is refused with 409, no
        transition Event is recorded; once it lands, one is. A PostHog of
        its own (invalid from the start, so nothing runs), since Events are
        rate-limited per object."""
        if not FAULTS:
            self.skipTest("needs the local API server's fault injection")
        name, ns_e = "events", NS + "-ev"
        subprocess.run(["kubectl", "create", "namespace", ns_e], capture_output=True, timeout=60)
        faults = os.path.join(os.environ["LOCAL_CLUSTER_DIR"], "faults.json")

        def invalid_events():
            p = subprocess.run(["kubectl", "-n", ns_e, "get", "events.v1.events.k8s.io", "-o", "json"],
                               capture_output=True, text=True, timeout=60, check=True)
            return sum((e.get("series") or {}).get("count", 1) for e in json.loads(p.stdout)["items"]
                       if e.get("reason") == "InvalidSpec" and e.get("regarding", {}).get("name") == name)

        def get_e():
            p = subprocess.run(["kubectl", "-n", ns_e, "get", "posthog", name, "-o", "json"],
                               capture_output=True, text=True, timeout=60)
            return json.loads(p.stdout) if p.returncode == 0 else None

        with open(faults, "w") as f:
            json.dump({"errorRate": 1.0, "errorCode": 409, "match": {
                "path": "/namespaces/%s/posthogs/%s/status$" % (ns_e, name), "verbs": ["update"],
                "userAgent": "posthog-operator"}}, f)
        try:
            time.sleep(1)
            other_posthog(name, ns_e, zookeeper={"replicas": 4})  # even: InvalidSpec
            wait_for("finalizer", lambda: "posthog.com/finalizer" in (get_e() or {}).get("metadata", {}).get("finalizers", []))
            time.sleep(8)  # many refused status writes, each retried
            self.assertFalse((get_e() or {}).get("status"), "the status write was refused")
            self.assertEqual(invalid_events(), 0, "Events while the status write fails")
        finally:
            with open(faults, "w") as f:
                json.dump({"reset": True}, f)
        wait_for("InvalidSpec in status", lambda: (lambda c: c if c and c["reason"] == "InvalidSpec" else None)(
            condition(get_e(), "Degraded")), timeout=60)
        wait_for("the InvalidSpec Event", lambda: invalid_events() >= 1, timeout=30)
        time.sleep(2)
        self.assertEqual(invalid_events(), 1)
        subprocess.run(["kubectl", "-n", ns_e, "delete", "posthog", name, "--wait=false"], capture_output=True, timeout=60)
        wait_for("PostHog gone", lambda: get_e() is None, timeout=60)
        subprocess.run(["kubectl", "delete", "namespace", ns_e, "--wait=false"], capture_output=True, timeout=60)

    def test_98_maximum_bucket_count(self):
        """Issue 21 item 4: at the most buckets allowed (64) the status is
        still written: per-bucket state in status.buckets[], a fixed set of
        conditions. It runs last but one, in a database of its own:
        dropping 63 buckets' Kafka tables takes ClickHouse 18.16 about 3 s
        each, so the count stays, and `posthog` is left free for
        test_datapath."""
        ready_gen()
        name = ph_name()
        seed_database("posthog_max")
        patch_ph({"spec": {"buckets": {"count": 64}, "clickhouse": {"database": "posthog_max"}}})
        ph = wait_for("64 buckets ready", lambda: (lambda ph: ph if ph["status"].get("ready") == "64/64"
                      and ph["status"].get("observedGeneration") == ph["metadata"]["generation"]
                      and ph["status"].get("phase") == "Ready" else None)(get("posthog", name)),
                      timeout=max(READY_TIMEOUT, 420), interval=3)
        self.assertEqual(len(ph["status"]["buckets"]), 64)
        self.assertTrue(all(b["ready"] for b in ph["status"]["buckets"]))
        types = [c["type"] for c in ph["status"]["conditions"]]
        self.assertLessEqual(len(types), 16, types)
        self.assertFalse([t for t in types if t.startswith("Bucket")], types)
        self.assertIn("kafka_events_json_63", clickhouse(
            "SELECT name FROM system.tables WHERE database = 'posthog_max'").split())

    def test_99_delete_removes_children_keeps_pvcs(self):
        ready_gen()
        name = ph_name()
        pvcs = [p["metadata"]["name"] for p in get("pvc")["items"]]
        ns = get("posthog", name)["metadata"]["namespace"]
        self.assertEqual(OPERATOR.gauge("posthog_ready", namespace=ns, name=name), 1)
        kubectl("delete", "posthog", name, "--wait=false")
        wait_for("PostHog gone", lambda: get("posthog", name, check=False) is None)
        # Its series leave /metrics: no alert keeps firing for it.
        wait_for("its metric series gone",
                 lambda: OPERATOR.gauge("posthog_ready", namespace=ns, name=name) is None
                 and OPERATOR.gauge("posthog_component_ready", namespace=ns, name=name) is None)
        sel = "app.kubernetes.io/instance=%s" % name
        wait_for("children gone", lambda: not get("statefulsets", selector=sel)["items"]
                 and not get("deployments", selector=sel)["items"])
        if LOCAL:
            self.assertTrue(pvcs, "the StatefulSets made PVCs")
        left = [p["metadata"]["name"] for p in get("pvc")["items"]]
        self.assertEqual(sorted(left), sorted(pvcs))


if __name__ == "__main__":
    unittest.main(verbosity=2)

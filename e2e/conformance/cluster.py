"""Shared fixture for the conformance suite: one private server instance
(own directory under a temp dir, free port), a proxy backend, and helpers
to drive it with kubectl, helm and raw HTTPS.

CLUSTER picks the server: "local" (default) is hack/local-cluster, "kube"
the real control plane of hack/kube-cluster. Tests that only make sense on
one of them are skipped on the other with local_only / kube_only, each with
its reason (e2e/README.md lists them)."""
import atexit
import http.client
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

KIND = os.environ.get("CLUSTER", "local")
if KIND not in ("local", "kube"):
    raise SystemExit("CLUSTER must be local or kube, not %r" % KIND)
LOCAL = KIND == "local"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(REPO, ".tools", "bin")
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


class Backend(http.server.BaseHTTPRequestHandler):
    """Echoes what it received, so proxy tests can check forwarding."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _echo(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        out = json.dumps({"method": self.command, "path": self.path, "body": body,
                          "user": self.headers.get("X-ClickHouse-User"),
                          "key": self.headers.get("X-ClickHouse-Key")}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _echo


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lc-conformance-")
        self.backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
        threading.Thread(target=self.backend.serve_forever, daemon=True).start()
        self.backend_port = self.backend.server_address[1]
        self.script = os.path.join(REPO, "hack", "local-cluster" if LOCAL else "kube-cluster")
        self.env = dict(os.environ, LOCAL_CLUSTER_DIR=self.dir, KUBE_CLUSTER_DIR=self.dir,
                        KUBECONFIG=os.path.join(self.dir, "kubeconfig"),
                        PATH=TOOLS + ":" + os.environ.get("PATH", ""),
                        HELM_CACHE_HOME=os.path.join(self.dir, "helm-cache"),
                        HELM_CONFIG_HOME=os.path.join(self.dir, "helm-config"),
                        HELM_DATA_HOME=os.path.join(self.dir, "helm-data"))
        self.up()

    def up(self, *extra):
        if LOCAL:
            args = ["--port", "0", "--ready-delay", "0.3", "--job-duration", "0.5",
                    "--cron-speedup", "120", "--fail-image", "fail-me", "--bookmark-interval",
                    "1", "--watch-history", "300", "--persist",
                    "--proxy", "*:8123=127.0.0.1:%d" % self.backend_port] + list(extra)
        else:
            args = ["--port", "0", "--ready-delay", "0.3", "--job-duration", "0.5",
                    "--fail-image", "fail-me", "--persist"] + list(extra)
        subprocess.run([self.script, "up"] + args, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read())
        with open(os.path.join(self.dir, "admin-token")) as f:
            self.token = f.read().strip()
        self.ssl = ssl.create_default_context(cafile=os.path.join(self.dir, "pki", "ca.crt"))
        wait_until(self.ready, timeout=180, interval=0.5, what="/readyz after up")

    def ready(self):
        try:
            return self.http("GET", "/readyz", token="", timeout=10)[0] == 200
        except OSError:
            return False

    def boot_id(self):
        """local-cluster's id of its current start (new after a restart)."""
        try:
            st, o = self.http("GET", "/admin/stats", timeout=10)
        except OSError:
            return None
        return o.get("bootId") if st == 200 and isinstance(o, dict) else None

    def ensure_clean(self):
        """Every module starts from a running server without faults: a module
        that failed mid-restart must not fail the ones after it. Waits for
        /readyz (generously: the machine may be loaded), restarts the server
        if it does not come back, and clears local-cluster's faults."""
        try:
            wait_until(self.ready, timeout=120, interval=0.5, what="/readyz")
        except AssertionError:
            self.down()
            self.up()
        if LOCAL:
            st, _ = self.faults({"reset": True})
            if st != 200:
                raise AssertionError("cannot reset faults: %d" % st)

    def down(self):
        subprocess.run([self.script, "down"], env=self.env, stdout=subprocess.DEVNULL)

    def close(self):
        self.down()
        self.backend.shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- clients -------------------------------------------------------
    def run(self, tool, *args, input=None, check=True, timeout=300):
        p = subprocess.run([os.path.join(TOOLS, tool)] + list(args), env=self.env,
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s %s failed (%d): %s%s" % (tool, " ".join(args),
                                                            p.returncode, p.stdout, p.stderr))
        return p

    def kubectl(self, *args, **kw):
        return self.run("kubectl", *args, **kw)

    def helm(self, *args, **kw):
        return self.run("helm", *args, **kw)

    def http(self, method, path, body=None, token=None, headers=None, ctype=None,
             raw=False, timeout=30):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl,
                                        timeout=timeout)
        h = {"Authorization": "Bearer " + (token or self.token)}
        if token == "":
            h = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if body is not None:
            h["Content-Type"] = ctype or "application/json"
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        if raw:
            return r, data
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, data.decode()

    def watch_lines(self, path, max_seconds=10, until=None):
        """Opens a watch and returns the decoded events received."""
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl,
                                        timeout=max_seconds + 5)
        c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
        r = c.getresponse()
        events = []
        deadline = time.time() + max_seconds
        while time.time() < deadline:
            # HTTPResponse.readline undoes the chunked encoding: kube-apiserver
            # may split one event over several chunks. An empty read is the
            # end of the watch.
            line = r.readline()
            if not line:
                break
            line = line.strip()
            if not line or not line.startswith(b"{"):
                continue
            events.append(json.loads(line))
            if until and until(events):
                break
        c.close()
        return r.status, events

    def faults(self, doc):
        return self.http("POST", "/admin/faults", doc)

    def requests_log(self):
        with open(os.path.join(self.dir, "apiserver-requests.jsonl")) as f:
            return [json.loads(x) for x in f if x.strip()]


def local_only(reason):
    """Skips a test on the real control plane, saying why."""
    return unittest.skipUnless(LOCAL, "hack/local-cluster only: " + reason)


def kube_only(reason):
    return unittest.skipIf(LOCAL, "real control plane only: " + reason)


def wait_until(fn, timeout=120, interval=0.1, what="condition"):
    """Polls fn until it is true. The default timeout is generous: the machine
    may be loaded, and a wait is for a condition, never a measurement."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


_cluster = None


def get():
    global _cluster
    if _cluster is None:
        _cluster = Cluster()
        atexit.register(_cluster.close)
    _cluster.ensure_clean()
    return _cluster

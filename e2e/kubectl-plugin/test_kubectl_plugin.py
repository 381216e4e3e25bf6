"""kubectl-posthog against a real control plane (hack/test.d/62-kubectl-plugin
starts it, the operator and ClickHouse; KUBECONFIG points at it).

A PostHog from examples/minimal.yaml is applied and reaches Ready, then
every subcommand runs with -o json and its output is parsed and checked
against what kubectl reads from the same API server.
"""
import base64
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
NS = "plugin-e2e"
PH = "posthog"
BIN = os.path.join(os.environ["PLUGIN_BIN"], "kubectl-posthog")
WORK = os.environ.get("E2E_DIR", tempfile.gettempdir())

# The backup kinds as docs/backups.md and /work/briefs/backup-api.md define
# them; used only when the tree's crds/ does not have them yet (the backup
# controller lands separately), so that backup, backups and restore create
# and list real objects on the API server.
BACKUP_KINDS = ("PostHogBackup", "PostHogBackupSchedule", "PostHogRestore")


def kubectl(*args, check=True, input=None, env=None):
    p = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input,
                       timeout=120, env=env)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def plugin(*args, check=True, env=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, env=env)
    if check and p.returncode != 0:
        raise AssertionError("kubectl-posthog %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                                 p.stderr.strip()))
    return p


def pj(*args):
    return json.loads(plugin(*args, "-n", NS, "-o", "json").stdout)


def get(kind, name):
    return json.loads(kubectl("-n", NS, "get", kind, name, "-o", "json").stdout)


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(what, fn, timeout=180):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(1)
    raise AssertionError("timed out waiting for %s (last %r)" % (what, last))


def ensure_backup_crds():
    served = kubectl("api-resources", "--api-group=posthog.com", "-o", "name").stdout
    for kind in BACKUP_KINDS:
        plural = kind.lower() + "s"
        if plural + ".posthog.com" in served:
            continue
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": plural + ".posthog.com"},
               "spec": {"group": "posthog.com", "scope": "Namespaced",
                        "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                                  "listKind": kind + "List"},
                        "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                      "subresources": {"status": {}},
                                      "schema": {"openAPIV3Schema": {
                                          "type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}
        kubectl("apply", "--server-side", "-f", "-", input=json.dumps(crd))
        kubectl("wait", "--for=condition=Established", "crd/%s.posthog.com" % plural,
                "--timeout=60s")


def jump_bucket(team, n):
    """docs/buckets.md's assignment, written again from the document, to
    check the plugin (which calls the operator's C code) against it."""
    m = (1 << 64) - 1
    z = (team + 0x9e3779b97f4a7c15) & m
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & m
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & m
    key = z ^ (z >> 31)
    b, j = -1, 0
    while j < n:
        b = j
        key = (key * 2862933555777941757 + 1) & m
        j = int(float(b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


class KubectlPluginE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kubectl("create", "namespace", NS, check=False)
        with open(os.path.join(TOP, "examples", "minimal.yaml")) as f:
            kubectl("-n", NS, "apply", "-f", "-", input=f.read())
        ensure_backup_crds()
        wait_for("the PostHog to be Ready",
                 lambda: get("posthog", PH).get("status", {}).get("phase") == "Ready")

    def test_01_status_json(self):
        st = pj("status", PH)
        ph = get("posthog", PH)
        self.assertEqual(st["phase"], "Ready")
        self.assertEqual(st["name"], PH)
        self.assertEqual(st["namespace"], NS)
        self.assertEqual(st["version"], ph["status"]["version"])
        for c in ("zookeeper", "kafka", "clickhouse"):
            self.assertTrue(st["components"][c]["ready"], c)
        self.assertEqual(len(st["buckets"]), len(ph["status"]["buckets"]))
        self.assertTrue(st["buckets"][0]["ready"])
        self.assertIn("lag", st["buckets"][0])
        # Shown as the operator wrote them, or null when absent.
        self.assertEqual(st["upgrade"], ph["status"].get("upgrade"))
        self.assertEqual(st["reshard"], ph["status"].get("reshard"))
        reasons = [e["reason"] for e in st["events"]]
        self.assertIn("Ready", reasons, "the PostHog's Events")
        times = [e["time"] for e in st["events"]]
        self.assertEqual(times, sorted(times), "oldest first")
        self.assertEqual(len(pj("status", PH, "--events", "1")["events"]), 1)

    def test_02_status_text_colour(self):
        piped = plugin("status", PH, "-n", NS).stdout
        self.assertIn("Ready", piped)
        self.assertIn("Upgrade", piped)
        self.assertNotIn("\x1b[", piped, "no colour when piped")
        self.assertIn("\x1b[32m", plugin("status", PH, "-n", NS, "--color=always").stdout)

    def test_03_kubectl_plugin_and_kubeconfig(self):
        env = dict(os.environ, PATH=os.environ["PLUGIN_BIN"] + ":" + os.environ["PATH"])
        p = kubectl("posthog", "status", PH, "-n", NS, "-o", "json", env=env)
        self.assertEqual(json.loads(p.stdout)["phase"], "Ready")
        self.assertIn(os.path.join(os.environ["PLUGIN_BIN"], "kubectl-posthog"),
                      kubectl("plugin", "list", env=env, check=False).stdout)
        # The context's namespace, --kubeconfig and --context, as kubectl.
        kc = os.path.join(WORK, "plugin-kubeconfig")
        with open(os.environ["KUBECONFIG"]) as f, open(kc, "w") as g:
            g.write(f.read())
        ctx = kubectl("config", "current-context", "--kubeconfig", kc).stdout.strip()
        kubectl("config", "set-context", ctx, "--namespace", NS, "--kubeconfig", kc)
        env2 = dict(os.environ)
        env2.pop("KUBECONFIG")
        p = plugin("status", PH, "-o", "json", "--kubeconfig", kc, "--context", ctx, env=env2)
        self.assertEqual(json.loads(p.stdout)["namespace"], NS)
        p = plugin("status", PH, "--kubeconfig", kc, "--context", "nope", env=env2, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope", p.stderr)

    def test_04_buckets(self):
        kubectl("-n", NS, "patch", "posthog", PH, "--type", "merge", "-p",
                json.dumps({"spec": {"buckets": {"pins": [{"teamId": 7, "bucket": 0}]}}}))
        b = pj("buckets", PH, "--team", "42", "--count", "4")
        n = b["buckets"]
        self.assertEqual(n, get("posthog", PH)["spec"]["buckets"]["count"])
        self.assertEqual(b["team"], {"team": 42, "bucket": jump_bucket(42, n), "pinned": False})
        self.assertEqual(sum(b["teamsPerBucket"]), 10000)
        pv = b["preview"]
        want = [t for t in range(1, 10001) if t != 7 and jump_bucket(t, 4) != jump_bucket(t, n)]
        self.assertEqual(pv["moved"], len(want))
        self.assertEqual([m["team"] for m in pv["movedTeams"]], want)
        self.assertAlmostEqual(pv["share"], len(want) / 10000)
        self.assertNotIn(7, [m["team"] for m in pv["movedTeams"]], "a pinned team stays")
        self.assertTrue(0.6 < pv["share"] < 0.9, "about 1 - 1/4 move from 1 to 4 buckets")
        t7 = pj("buckets", PH, "--team", "7")["team"]
        self.assertTrue(t7["pinned"])

    def test_05_upgrade_dry_run(self):
        binary = os.path.join(TOP, os.environ.get("BUILD_DIR", "build"), "operator/posthog-operator")
        versions = [r["version"] for r in json.loads(subprocess.run(
            [binary, "versions"], capture_output=True, text=True, check=True).stdout)]
        cur = get("posthog", PH)["spec"]["version"]
        to = next(v for v in versions if v != cur)
        plan = pj("upgrade", PH, "--to", to, "--dry-run")
        self.assertEqual((plan["from"], plan["to"]), (cur, to))
        rank = {"zookeeper": 0, "kafka": 1, "clickhouse": 2, "migrations": 3, "plugin-server": 4}
        comps = [s["component"] for s in plan["steps"]]
        self.assertEqual(comps, sorted(comps, key=rank.get), "the documented order")
        self.assertEqual(set(comps), set(rank))
        self.assertEqual([s["step"] for s in plan["steps"]], list(range(1, len(comps) + 1)))
        ps = [s for s in plan["steps"] if s["component"] == "plugin-server"]
        self.assertEqual([s["bucket"] for s in ps], sorted(s["bucket"] for s in ps))
        self.assertTrue(all(s["changes"] for s in ps), "plugin-server images change")
        self.assertEqual(get("posthog", PH)["spec"]["version"], cur, "a dry run changes nothing")
        p = plugin("upgrade", PH, "-n", NS, "--to", "no-such-version", "--dry-run", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--to", p.stderr)
        p = plugin("upgrade", PH, "-n", NS, "--to", to, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--dry-run", p.stderr)

    def test_06_backup_backups_restore(self):
        made = pj("backup", PH, "--name", "b1", "--s3-endpoint", "http://127.0.0.1:9",
                  "--s3-bucket", "backups", "--s3-prefix", "ph", "--s3-secret", "s3-creds")
        self.assertEqual(made["metadata"]["name"], "b1")
        live = get("posthogbackup", "b1")
        self.assertEqual(live["spec"]["posthog"], {"name": PH})
        self.assertEqual(live["spec"]["store"]["bucket"], "backups")
        # the plugin names the Secret; the API server fills in the CRD's
        # defaults for its keys (crds/posthog.com_posthogbackups.yaml)
        self.assertEqual(live["spec"]["store"]["credentials"],
                         {"secretName": "s3-creds", "accessKeyIdKey": "AWS_ACCESS_KEY_ID",
                          "secretAccessKeyKey": "AWS_SECRET_ACCESS_KEY"})
        time.sleep(1.1)  # a later creationTimestamp
        second = pj("backup", PH)  # the store of the newest backup
        self.assertEqual(second["spec"]["store"], live["spec"]["store"])
        self.assertTrue(second["metadata"]["name"].startswith(PH + "-"))
        listed = pj("backups", PH)["backups"]
        self.assertEqual([b["name"] for b in listed], [second["metadata"]["name"], "b1"])
        # The phase is the operator's (Pending until it writes one); it may
        # move on between two reads once the backup controller runs.
        self.assertIn(listed[1]["phase"], {"Pending", "Running", "Completed", "Failed"})
        r = pj("restore", PH, "--backup", "b1", "--name", "r1", "--replay-kafka")
        live_r = get("posthogrestore", "r1")
        self.assertEqual(r["metadata"]["name"], "r1")
        self.assertEqual(live_r["spec"]["backupName"], "b1")
        self.assertEqual(live_r["spec"]["store"], live["spec"]["store"])
        self.assertTrue(live_r["spec"]["replayKafka"])
        self.assertIn("b1", [b["name"] for b in pj("status", PH)["backups"]])
        p = plugin("backup", PH, "-n", NS, "--s3-endpoint", "http://x", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--s3-bucket", p.stderr)

    def test_07_reshard(self):
        rs = pj("reshard", PH)
        ph = get("posthog", PH)
        self.assertEqual(rs["reshard"], ph["status"].get("reshard"))
        self.assertEqual(rs["shards"], ph["spec"]["clickhouse"].get("shards"))
        text = plugin("reshard", PH, "-n", NS).stdout
        if ph["status"].get("reshard") is None:
            self.assertIn("none in progress", text)

    def test_08_report_redacts_every_secret_value(self):
        # A log line and an Event that repeat a Secret's value: the bundle
        # must not carry it in any form.
        secret = json.loads(kubectl("-n", NS, "get", "secret", "posthog-clickhouse", "-o",
                                    "json").stdout)
        pw = base64.b64decode(secret["data"]["password"]).decode()
        log = os.path.join(WORK, "operator-copy.log")
        with open(os.environ["OPERATOR_LOG"]) as f, open(log, "w") as g:
            g.write(f.read())
            g.write("debug: connecting with password=%s (b64 %s)\n"
                    % (pw, secret["data"]["password"]))
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "leak", "namespace": NS},
              "involvedObject": {"kind": "PostHog", "name": PH, "namespace": NS},
              "reason": "Test", "message": "the password is " + pw, "type": "Normal"}
        kubectl("apply", "-f", "-", input=json.dumps(ev))
        out = os.path.join(WORK, "report.tar.gz")
        res = pj("report", PH, "-f", out, "--operator-log", log)
        self.assertEqual(res["file"], out)
        self.assertGreaterEqual(res["manifest"]["redactions"], 3)
        values = []
        for s in json.loads(kubectl("-n", NS, "get", "secrets", "-o", "json").stdout)["items"]:
            for v in (s.get("data") or {}).values():
                raw = base64.b64decode(v)
                if len(raw) >= 4:
                    values += [raw, v.encode()]
        self.assertIn(pw.encode(), values)
        with tarfile.open(out, "r:gz") as t:
            members = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
        names = set(members)
        for want in ("posthog-report/posthog.json", "posthog-report/events.json",
                     "posthog-report/manifest.json", "posthog-report/operator/local.log",
                     "posthog-report/secrets/posthog-clickhouse.json",
                     "posthog-report/children/StatefulSet-posthog-zookeeper.json",
                     "posthog-report/children/Deployment-posthog-plugins-ingestion-0.json",
                     "posthog-report/backups.json"):
            self.assertIn(want, names)
        for name, data in members.items():
            for v in values:
                self.assertNotIn(v, data, "a Secret value in %s" % name)
        sec = json.loads(members["posthog-report/secrets/posthog-clickhouse.json"])
        self.assertEqual(set(sec["data"]), {"password"})
        self.assertTrue(sec["data"]["password"].startswith("<redacted"))
        self.assertIn(b"connecting with password=<redacted>", members["posthog-report/operator/local.log"])
        self.assertIn(b"the password is <redacted>", members["posthog-report/events.json"])
        manifest = json.loads(members["posthog-report/manifest.json"])
        self.assertEqual(manifest["posthog"], PH)

    def test_09_bad_input(self):
        cases = [
            (["status"], 2, "NAME"),
            (["buckets", PH, "--count", "0"], 2, "--count"),
            (["buckets", PH, "--count"], 2, "--count"),
            (["status", PH, "--bogus"], 2, "--bogus"),
            (["status", PH, "-o", "yaml"], 2, "-o"),
            (["buckets", PH, "--to", "x"], 2, "--to"),
            (["frobnicate", PH], 2, "frobnicate"),
            (["restore", PH], 2, "--backup"),
            (["status", "missing-posthog", "-n", NS], 1, "not found"),
            (["status", PH, "--kubeconfig", "/nonexistent/kubeconfig"], 1, "/nonexistent/kubeconfig"),
        ]
        for args, code, word in cases:
            p = plugin(*args, check=False)
            self.assertEqual(p.returncode, code, args)
            self.assertIn(word, p.stderr, args)

    def test_10_dashboard_metrics_are_exported(self):
        rendered = subprocess.run(
            ["helm", "template", "x", os.path.join(TOP, "charts", "posthog-operator"),
             "--set", "grafanaDashboard.enabled=true"], capture_output=True, text=True, check=True)
        import yaml
        cm = next(d for d in yaml.safe_load_all(rendered.stdout)
                  if d and d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"])
        path = os.path.join(WORK, "dashboard.json")
        with open(path, "w") as f:
            f.write(next(iter(cm["data"].values())))
        router, log = self.start_router()
        try:
            port = wait_for("the router's metrics port", lambda: re.search(
                r"/metrics on port (\d+)", read(log)), timeout=60).group(1)
            urls = [os.environ["OPERATOR_METRICS_URL"], "http://127.0.0.1:%s/metrics" % port]
            check = [os.environ.get("PYTHON", "python3"),
                     os.path.join(TOP, "hack", "check-dashboard.py"), "metrics", path, *urls]
            # The router's gauges appear once it has a map, a token table and
            # its partitions; the check is retried until then.
            p = wait_for("every dashboard metric on /metrics", lambda: (lambda r: r if
                         r.returncode == 0 else None)(subprocess.run(check, capture_output=True,
                                                                     text=True)), timeout=90)
        except AssertionError:
            p = subprocess.run(check, capture_output=True, text=True)
            raise AssertionError(p.stderr + "\nrouter log:\n" + read(log)[-3000:])
        finally:
            router.terminate()
            router.wait(timeout=30)
        self.assertTrue(re.search(r"\d+ metric references", p.stdout))

    def start_router(self):
        """The bucket router (posthog-operator route) on the operator's own
        bucket map (the <ph>-buckets ConfigMap), the local broker and
        PostgreSQL."""
        cm = get("configmap", PH + "-buckets")
        mp = os.path.join(WORK, "buckets.json")
        with open(mp, "w") as f:
            f.write(cm["data"]["buckets.json"])
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        "CREATE TABLE IF NOT EXISTS posthog_team (id integer PRIMARY KEY, "
                        "api_token varchar(200) UNIQUE NOT NULL, name varchar(200))"],
                       check=True, capture_output=True)
        log = os.path.join(WORK, "router.log")
        with open(log, "w") as f:
            proc = subprocess.Popen(
                [os.environ["ROUTER_BIN"], "route", "--kafka-bootstrap-servers",
                 os.environ["KAFKA_BOOTSTRAP"], "--bucket-map", mp,
                 "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "0",
                 "--log-format", "text"], stdout=subprocess.DEVNULL, stderr=f)
        return proc, log

    def test_11_krew_package(self):
        out = os.path.join(WORK, "krew")
        p = subprocess.run([os.path.join(TOP, "hack", "krew-package"), BIN, out],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        import yaml
        with open(os.path.join(out, "posthog.yaml")) as f:
            m = yaml.safe_load(f)
        plat = m["spec"]["platforms"][0]
        with tarfile.open(os.path.join(out, "kubectl-posthog_linux_amd64.tar.gz")) as t:
            t.extract(plat["bin"], os.path.join(out, "x"))
        installed = os.path.join(out, "x")
        env = dict(os.environ, PATH=installed + ":" + os.environ["PATH"])
        v = kubectl("posthog", "version", env=env).stdout
        self.assertEqual(v.strip(), "kubectl-posthog " + m["spec"]["version"][1:])
        st = json.loads(kubectl("posthog", "status", PH, "-n", NS, "-o", "json", env=env).stdout)
        self.assertEqual(st["phase"], "Ready")

    def test_12_valgrind_clean(self):
        if not shutil.which("valgrind"):
            self.skipTest("valgrind is not installed")
        out = os.path.join(WORK, "vg-report.tar.gz")
        for args in (["status", PH], ["buckets", PH, "--count", "3"], ["report", PH, "-f", out]):
            p = subprocess.run(["valgrind", "--error-exitcode=99", "--leak-check=full",
                                "--errors-for-leak-kinds=definite", "--quiet", BIN, *args, "-n", NS],
                               capture_output=True, text=True, timeout=300)
            self.assertNotEqual(p.returncode, 99, "%s: %s" % (args, p.stderr[-3000:]))


if __name__ == "__main__":
    unittest.main()

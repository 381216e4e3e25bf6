"""Operations: fault injection (admin endpoint and flag file), restart
with state kept, --persist across down/up, the request log, and helm."""
import json
import os
import time
import unittest

from . import cluster

C = None


def setUpModule():
    global C
    C = cluster.get()


@cluster.local_only("fault injection is a feature of the simulator; a real API server has no /admin/faults")
class TestFaults(unittest.TestCase):
    def tearDown(self):
        C.faults({"reset": True})

    def test_error_rate_429_with_retry_after(self):
        C.faults({"errorRate": 1.0, "errorCode": 429, "retryAfter": 2,
                  "match": {"path": "^/api/v1/namespaces/default/configmaps"}})
        r, data = C.http("GET", "/api/v1/namespaces/default/configmaps", raw=True)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.getheader("Retry-After"), "2")
        self.assertEqual(json.loads(data)["reason"], "TooManyRequests")
        self.assertEqual(C.http("GET", "/api/v1/namespaces/default/secrets")[0], 200)
        C.faults({"errorCode": 500})
        self.assertEqual(C.http("GET", "/api/v1/namespaces/default/configmaps")[0], 500)

    def test_latency(self):
        C.faults({"latencyMs": 300, "match": {"path": "^/api/v1/namespaces/default/pods"}})
        t0 = time.time()
        C.http("GET", "/api/v1/namespaces/default/pods")
        self.assertGreaterEqual(time.time() - t0, 0.3)

    def test_flag_file_and_admin_only(self):
        path = os.path.join(C.dir, "faults.json")
        with open(path, "w") as f:
            json.dump({"errorRate": 1.0, "errorCode": 500,
                       "match": {"path": "^/api/v1/namespaces/kube-public/"}}, f)
        cluster.wait_until(lambda: C.http("GET", "/api/v1/namespaces/kube-public/configmaps")[0]
                           == 500, what="flag file picked up")
        with open(path, "w") as f:
            json.dump({"reset": True}, f)
        os.utime(path, (time.time() + 5, time.time() + 5))
        cluster.wait_until(lambda: C.http("GET", "/api/v1/namespaces/kube-public/configmaps")[0]
                           == 200, what="flag file reset")
        C.kubectl("create", "serviceaccount", "nofault", "-n", "default")
        t = C.kubectl("create", "token", "nofault").stdout.strip()
        self.assertEqual(C.http("POST", "/admin/faults", {"errorRate": 1}, token=t)[0], 403)

    def test_close_watches_and_expire_history(self):
        _, o = C.http("POST", "/api/v1/namespaces/default/configmaps",
                      {"metadata": {"name": "fw"}})
        rv = o["metadata"]["resourceVersion"]
        import threading
        res = {}
        # The watch is open once it has delivered its first event: the
        # ADDED of "fw" that a watch without a resourceVersion starts with.
        # (Comparing /admin/stats' watcher count with one read before
        # raced with other watches closing in between.)
        opened = threading.Event()

        def first_event(evs):
            opened.set()
            return False

        th = threading.Thread(target=lambda: res.setdefault("w", C.watch_lines(
            "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=120", max_seconds=90,
            until=first_event)))
        th.start()
        self.assertTrue(opened.wait(60), "timed out waiting for the watch's first event")
        t0 = time.time()
        C.faults({"closeWatches": True})
        th.join()
        self.assertLess(time.time() - t0, 30)   # closed, not timed out (90 s)
        C.faults({"expireHistory": True})
        _, evs = C.watch_lines("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion="
                               + rv, max_seconds=5)
        self.assertEqual(evs[0]["object"]["code"], 410)


class TestRestartAndPersistence(unittest.TestCase):
    @cluster.local_only("the restart fault is the simulator's; on the real server down/up is test_persist_across_down_up")
    def test_restart_fault_keeps_state(self):
        C.kubectl("create", "configmap", "survivor", "-n", "default")
        _, before = C.http("GET", "/api/v1/namespaces/default/configmaps/survivor")
        boot = C.boot_id()
        self.assertTrue(boot)
        C.faults({"restart": True, "restartDownSeconds": 0.5})
        # the restart has happened when a new start answers; the old one may
        # still answer for a while on a loaded machine
        cluster.wait_until(lambda: C.boot_id() not in (None, boot), timeout=120,
                           interval=0.2, what="a new start after the restart fault")
        cluster.wait_until(C.ready, timeout=120, what="/readyz after restart")
        _, after = C.http("GET", "/api/v1/namespaces/default/configmaps/survivor")
        self.assertEqual(after["metadata"]["uid"], before["metadata"]["uid"])
        _, o = C.http("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "post-restart"}})
        self.assertGreater(int(o["metadata"]["resourceVersion"]),
                           int(before["metadata"]["resourceVersion"]))

    def test_persist_across_down_up(self):
        C.kubectl("create", "configmap", "persisted", "-n", "default", "--from-literal=a=b")
        C.down()
        C.up()
        cm = json.loads(C.kubectl("get", "cm", "persisted", "-o", "json").stdout)
        self.assertEqual(cm["data"], {"a": "b"})


@cluster.local_only("apiserver-requests.jsonl is the simulator's own log; the real server writes an audit log instead (see test_audit_log)")
class TestRequestLog(unittest.TestCase):
    def test_every_request_logged(self):
        C.kubectl("get", "configmaps", "-n", "default", "--request-timeout=5s")

        def listed():
            return [l for l in C.requests_log() if l["path"] ==
                    "/api/v1/namespaces/default/configmaps" and
                    l["userAgent"].startswith("kubectl") and l["verb"] == "list"]
        cluster.wait_until(listed, timeout=60, what="the list in the request log")
        lines = C.requests_log()
        for k in ("time", "user", "userAgent", "verb", "path", "query", "code", "durationMs"):
            self.assertIn(k, lines[-1])
        mine = [l for l in lines if l["path"] == "/api/v1/namespaces/default/configmaps"
                and l["userAgent"].startswith("kubectl") and l["verb"] == "list"]
        self.assertTrue(mine)
        self.assertEqual(mine[-1]["user"], "kubernetes-admin")
        self.assertEqual(mine[-1]["code"], 200)
        self.assertIn("get", {l["verb"] for l in lines})


class TestHelm(unittest.TestCase):
    def test_install_upgrade_uninstall(self):
        chart = os.path.join(cluster.FIXTURES, "chart")
        C.helm("install", "conf", chart, "-n", "helm", "--create-namespace", "--wait",
               "--timeout", "120s")
        self.assertEqual(json.loads(C.kubectl("get", "cm", "conf-cfg", "-n", "helm", "-o",
                                              "json").stdout)["data"]["message"], "hello")
        C.helm("upgrade", "conf", chart, "-n", "helm", "--set", "replicas=2,message=bye",
               "--wait", "--timeout", "120s")
        d = json.loads(C.kubectl("get", "deploy", "conf-web", "-n", "helm", "-o", "json").stdout)
        self.assertEqual(d["spec"]["replicas"], 2)
        self.assertEqual(d["status"]["readyReplicas"], 2)
        self.assertEqual(d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "bye")
        rel = json.loads(C.helm("list", "-n", "helm", "-o", "json").stdout)
        self.assertEqual((rel[0]["revision"], rel[0]["status"]), ("2", "deployed"))
        C.helm("uninstall", "conf", "-n", "helm", "--wait")
        self.assertEqual(C.kubectl("get", "deploy,cm,sts", "-n", "helm", "-l", "app",
                                   "-o", "name").stdout.strip(), "")
        self.assertEqual(C.helm("list", "-n", "helm", "-q").stdout.strip(), "")


class TestAuditLog(unittest.TestCase):
    @cluster.kube_only("the simulator logs requests in apiserver-requests.jsonl instead")
    def test_audit_log(self):
        C.kubectl("create", "configmap", "audited", "-n", "default", "--from-literal=a=b")
        path = os.path.join(C.dir, "audit.log")
        def mine():
            with open(path) as f:
                return [e for e in map(json.loads, f) if e.get("verb") == "create" and
                        (e.get("objectRef") or {}).get("name") == "audited"]
        found = cluster.wait_until(mine, timeout=120, what="the create in audit.log")
        self.assertEqual(found[-1]["user"]["username"], "kubernetes-admin")
        self.assertEqual(found[-1]["responseStatus"]["code"], 201)

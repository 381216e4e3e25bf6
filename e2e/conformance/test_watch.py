"""Watch: kubectl get -w and wait, resume from a resourceVersion,
bookmarks, 410 Expired, timeoutSeconds, selectors, legacy /watch/ paths."""
import json
import threading
import time
import unittest

from . import cluster

C = None


def setUpModule():
    global C
    C = cluster.get()
    C.kubectl("create", "namespace", "watch")


def mk(name, labels=None):
    return C.http("POST", "/api/v1/namespaces/watch/configmaps",
                  {"metadata": {"name": name, "labels": labels or {}}})[1]


class TestWatch(unittest.TestCase):
    def test_resume_from_resource_version(self):
        o = mk("r1")
        rv = o["metadata"]["resourceVersion"]
        C.http("PATCH", "/api/v1/namespaces/watch/configmaps/r1", {"data": {"a": "b"}},
               ctype="application/merge-patch+json")
        C.http("DELETE", "/api/v1/namespaces/watch/configmaps/r1")
        st, evs = C.watch_lines("/api/v1/namespaces/watch/configmaps?watch=1&resourceVersion="
                                + rv + "&fieldSelector=metadata.name%3Dr1",
                                until=lambda e: len(e) >= 2)
        self.assertEqual(st, 200)
        self.assertEqual([e["type"] for e in evs], ["MODIFIED", "DELETED"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertGreater(rvs[0], int(rv))

    def test_initial_events_timeout_and_bookmarks(self):
        mk("b1")
        t0 = time.time()
        st, evs = C.watch_lines("/api/v1/namespaces/watch/configmaps?watch=true"
                                "&allowWatchBookmarks=true&timeoutSeconds=3", max_seconds=8)
        self.assertLess(time.time() - t0, 6)           # the server closed it
        types = [e["type"] for e in evs]
        self.assertIn("ADDED", types)
        self.assertIn("BOOKMARK", types)
        self.assertEqual(types[-1], "BOOKMARK")
        bm = [e for e in evs if e["type"] == "BOOKMARK"][-1]["object"]
        self.assertEqual(bm["kind"], "ConfigMap")
        self.assertTrue(int(bm["metadata"]["resourceVersion"]) > 0)

    def test_label_selector_transitions(self):
        o = mk("sel1", {"w": "no"})
        rv = o["metadata"]["resourceVersion"]
        C.http("PATCH", "/api/v1/namespaces/watch/configmaps/sel1",
               {"metadata": {"labels": {"w": "yes"}}}, ctype="application/merge-patch+json")
        C.http("PATCH", "/api/v1/namespaces/watch/configmaps/sel1",
               {"metadata": {"labels": {"w": "no"}}}, ctype="application/merge-patch+json")
        _, evs = C.watch_lines("/api/v1/namespaces/watch/configmaps?watch=1&labelSelector=w%3Dyes"
                               "&resourceVersion=" + rv, until=lambda e: len(e) >= 2)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"])

    @cluster.local_only("relies on --watch-history 300; kube-apiserver's watch cache sizes "
                        "itself and etcd compacts every 5 min, so 320 writes expire nothing. "
                        "test_canonical checks the 410 after a restart on both servers")
    def test_expired_history_gives_410_error_event(self):
        o = mk("old")
        for i in range(320):            # the suite's server keeps 300 events per resource
            mk("flood-%d" % i)
        st, evs = C.watch_lines("/api/v1/namespaces/watch/configmaps?watch=1&resourceVersion="
                                + o["metadata"]["resourceVersion"], max_seconds=5)
        self.assertEqual(st, 200)
        self.assertEqual(evs[0]["type"], "ERROR")
        s = evs[0]["object"]
        self.assertEqual((s["kind"], s["code"], s["reason"]), ("Status", 410, "Expired"))
        self.assertIn("too old resource version", s["message"])
        C.kubectl("delete", "cm", "-n", "watch", "-l", "!w", "--wait=false")

    def test_legacy_watch_path(self):
        o = mk("legacy")
        C.http("DELETE", "/api/v1/namespaces/watch/configmaps/legacy")
        _, evs = C.watch_lines("/api/v1/watch/namespaces/watch/configmaps/legacy?resourceVersion="
                               + o["metadata"]["resourceVersion"], until=lambda e: len(e) >= 1)
        self.assertEqual(evs[0]["type"], "DELETED")

    def test_kubectl_get_watch_and_wait(self):
        proc_out = {}

        def watcher():
            proc_out["p"] = C.kubectl("get", "cm", "-n", "watch", "-w", "--request-timeout=4s",
                                      "-l", "kw=1", check=False, timeout=120)
        th = threading.Thread(target=watcher)
        th.start()
        time.sleep(1.5)
        mk("kw", {"kw": "1"})
        th.join()
        self.assertIn("kw", proc_out["p"].stdout)
        C.kubectl("delete", "cm", "kw", "-n", "watch", "--wait=false")
        C.kubectl("wait", "--for=delete", "cm/kw", "-n", "watch", "--timeout=120s")

    def test_many_open_watches(self):
        import http.client
        conns = []
        for _ in range(150):
            c = http.client.HTTPSConnection("127.0.0.1", C.port, context=C.ssl, timeout=10)
            c.request("GET", "/api/v1/namespaces/watch/secrets?watch=1&timeoutSeconds=20",
                      headers={"Authorization": "Bearer " + C.token})
            conns.append((c, c.getresponse()))
        if cluster.LOCAL:   # the simulator's own counter; kube-apiserver has none to ask
            _, stats = C.http("GET", "/admin/stats")
            self.assertGreaterEqual(stats["watchers"], 150)
        C.http("POST", "/api/v1/namespaces/watch/secrets", {"metadata": {"name": "fan"}})
        got = 0
        for c, r in conns:
            line = r.fp.readline()
            while line.strip() in (b"",) or not line.strip().startswith(b"{"):
                line = r.fp.readline()
            if json.loads(line)["object"]["metadata"]["name"] == "fan":
                got += 1
            c.close()
        self.assertEqual(got, 150)

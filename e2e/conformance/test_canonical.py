"""What a real API server rewrites or adds, checked on both servers:
quantities stored in canonical form, the HorizontalPodAutoscaler status
with desiredReplicas, and 410 for a watch from a resourceVersion older than
the server's start."""
import json
import unittest

from . import cluster

C = None

# (written, stored): upstream's resource.Quantity canonical forms; the C
# table in pkg/kube/test_kube_unit.c is the same.
QUANTITIES = [("1.5", "1500m"), ("1000m", "1"), ("1024Mi", "1Gi"), ("2000", "2k"),
              ("1500", "1500"), ("0.5Gi", "512Mi"), ("1.5Gi", "1536Mi"), ("100M", "100M"),
              ("1e3", "1e3"), ("0.1", "100m"), ("1023Mi", "1023Mi"), ("0.5Ki", "512"),
              ("00.50", "500m")]
# Below a milli the servers differ: kube-apiserver v1.36.3 stored a PVC
# request of "1.0000000001" as 1001m, where upstream's ParseQuantity reads
# as rounding up to a nano (1000000001n, what local-cluster and
# kube_quantity_canonical give). Not in the table until that is understood;
# e2e/README.md lists it.


def setUpModule():
    global C
    C = cluster.get()
    C.kubectl("create", "namespace", "canon")


class TestQuantities(unittest.TestCase):
    def test_pod_resources_are_stored_canonically(self):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "q", "namespace": "canon"},
               "spec": {"containers": [
                   {"name": "c", "image": "busybox:1.36",
                    "resources": {"requests": {"cpu": "1.5", "memory": "1024Mi"},
                                  "limits": {"cpu": "1.5", "memory": "1024Mi"}}},
                   {"name": "d", "image": "busybox:1.36",
                    "resources": {"requests": {"cpu": "1000m", "memory": 2000},
                                  "limits": {"cpu": 2}}}]}}
        st, got = C.http("POST", "/api/v1/namespaces/canon/pods", pod)
        self.assertEqual(st, 201, got)
        c, d = got["spec"]["containers"]
        self.assertEqual(c["resources"], {"requests": {"cpu": "1500m", "memory": "1Gi"},
                                          "limits": {"cpu": "1500m", "memory": "1Gi"}})
        self.assertEqual(d["resources"], {"requests": {"cpu": "1", "memory": "2k"},
                                          "limits": {"cpu": "2"}})

    def test_quantity_table(self):
        """Every form in the table, as a ConfigMap cannot hold a Quantity:
        through a PVC's storage request, one claim per form."""
        for i, (written, stored) in enumerate(QUANTITIES):
            pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "q%d" % i, "namespace": "canon"},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": written}}}}
            st, got = C.http("POST", "/api/v1/namespaces/canon/persistentvolumeclaims"
                             "?dryRun=All", pvc)
            self.assertEqual(st, 201, got)
            self.assertEqual(got["spec"]["resources"]["requests"]["storage"], stored,
                             "written %r" % written)

    def test_apply_of_the_written_form_is_a_no_op(self):
        """Server-side apply compares after canonicalising: re-applying
        cpu "1.5" over a stored "1500m" changes nothing."""
        doc = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: qa, namespace: canon}
spec:
  selector: {matchLabels: {app: qa}}
  template:
    metadata: {labels: {app: qa}}
    spec:
      containers:
      - name: c
        image: busybox:1.36
        resources: {requests: {cpu: 1000m, memory: 1024Mi}, limits: {cpu: "1.5"}}
"""
        C.kubectl("apply", "--server-side", "--field-manager=t", "-f", "-", input=doc)
        # The Deployment controller writes the status (a new resourceVersion)
        # until the rollout is done; compare once it has settled, so that only
        # the second apply could change the resourceVersion.
        def settled():
            d = json.loads(C.kubectl("get", "deploy", "qa", "-n", "canon", "-o",
                                     "json").stdout)
            st = d.get("status") or {}
            conds = {c["type"]: c.get("reason") for c in st.get("conditions") or ()}
            return d if (st.get("observedGeneration") == d["metadata"]["generation"] and
                         st.get("readyReplicas") == 1 and
                         conds.get("Progressing") == "NewReplicaSetAvailable") else None
        a = cluster.wait_until(settled, interval=0.5, what="deploy/qa rolled out")
        self.assertEqual(a["spec"]["template"]["spec"]["containers"][0]["resources"],
                         {"requests": {"cpu": "1", "memory": "1Gi"},
                          "limits": {"cpu": "1500m"}})
        C.kubectl("apply", "--server-side", "--field-manager=t", "-f", "-", input=doc)
        b = json.loads(C.kubectl("get", "deploy", "qa", "-n", "canon", "-o", "json").stdout)
        self.assertEqual(a["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"])


class TestHpaStatus(unittest.TestCase):
    def test_status_has_desired_replicas(self):
        C.kubectl("create", "deployment", "scaled", "-n", "canon", "--image=nginx:1.27",
                  "--replicas=2")
        C.kubectl("apply", "-f", "-", input="""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: scaled, namespace: canon}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scaled}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
""")
        def status():
            h = json.loads(C.kubectl("get", "hpa", "scaled", "-n", "canon", "-o",
                                     "json").stdout)
            st = h.get("status") or {}
            return st if "currentReplicas" in st else None
        # The upstream HPA controller syncs every 15 s.
        st = cluster.wait_until(status, timeout=120, interval=1, what="HPA status")
        self.assertIn("desiredReplicas", st)
        self.assertIsInstance(st["desiredReplicas"], int)
        self.assertEqual(st["currentReplicas"], 2)
        conds = {c["type"]: c for c in st.get("conditions") or ()}
        self.assertEqual(conds["AbleToScale"]["status"], "True")
        # No metrics API on either server.
        self.assertEqual(conds["ScalingActive"]["status"], "False")


class TestWatchAfterRestart(unittest.TestCase):
    def test_resource_version_older_than_start_is_gone(self):
        C.kubectl("create", "configmap", "before-restart", "-n", "canon")
        old = json.loads(C.kubectl("get", "cm", "before-restart", "-n", "canon", "-o",
                                   "json").stdout)["metadata"]["resourceVersion"]
        for i in range(3):   # move the resourceVersion on past old
            C.kubectl("create", "configmap", "filler-%d" % i, "-n", "canon")
        C.down()
        C.up()
        st, events = C.watch_lines("/api/v1/namespaces/canon/configmaps?watch=1"
                                   "&resourceVersion=%s&allowWatchBookmarks=true" % old,
                                   max_seconds=5, until=lambda ev: ev)
        self.assertEqual(st, 200)
        self.assertTrue(events, "no event at all")
        self.assertEqual(events[0]["type"], "ERROR", events[0])
        self.assertEqual((events[0]["object"]["code"], events[0]["object"]["reason"]),
                         (410, "Expired"))
        # A watch from the newest resourceVersion of a fresh list works.
        lst = json.loads(C.kubectl("get", "--raw",
                                   "/api/v1/namespaces/canon/configmaps").stdout)
        rv = lst["metadata"]["resourceVersion"]
        C.kubectl("create", "configmap", "after-restart", "-n", "canon")
        st, events = C.watch_lines("/api/v1/namespaces/canon/configmaps?watch=1"
                                   "&resourceVersion=%s" % rv, max_seconds=5,
                                   until=lambda ev: any(e["type"] == "ADDED" for e in ev))
        self.assertEqual([e["object"]["metadata"]["name"] for e in events
                          if e["type"] == "ADDED"], ["after-restart"])


class TestResourceValidation(unittest.TestCase):
    def test_request_above_limit_is_refused(self):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "over", "namespace": "canon"},
               "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "resources": {
                   "requests": {"cpu": "1.5"}, "limits": {"cpu": "1000m"}}}]}}
        st, err = C.http("POST", "/api/v1/namespaces/canon/pods?dryRun=All", pod)
        self.assertEqual((st, err["reason"]), (422, "Invalid"))
        self.assertIn("must be less than or equal to cpu limit of", err["message"])

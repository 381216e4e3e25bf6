"""Simulated controllers: deployments, statefulsets (ordinal order, PVCs,
rolling update with partition, OnDelete, retention), jobs, cronjobs and the
--fail-image pattern."""
import json
import unittest

from . import cluster

C = None


def setUpModule():
    global C
    C = cluster.get()
    C.kubectl("create", "namespace", "ctl")


def sts(name, replicas=3, image="clickhouse:24.8", strategy="", policy="", extra=""):
    return """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: %s, namespace: ctl}
spec:
  serviceName: %s
  replicas: %d
  selector: {matchLabels: {app: %s}}
  %s
  %s
  %s
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: c, image: "%s"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""" % (name, name, replicas, name, strategy, policy, extra, name, image)


def get(kind, name):
    return json.loads(C.kubectl("get", kind, name, "-n", "ctl", "-o", "json").stdout)


class TestControllers(unittest.TestCase):
    def test_deployment_status(self):
        C.kubectl("create", "deployment", "web", "-n", "ctl", "--image=nginx:1.27",
                  "--replicas=2")
        C.kubectl("wait", "--for=condition=Available", "deploy/web", "-n", "ctl",
                  "--timeout=120s")
        d = get("deploy", "web")
        st = d["status"]
        self.assertEqual((st["replicas"], st["readyReplicas"], st["updatedReplicas"],
                          st["availableReplicas"]), (2, 2, 2, 2))
        self.assertEqual(st["observedGeneration"], d["metadata"]["generation"])
        conds = {c["type"]: c["reason"] for c in st["conditions"]}
        self.assertEqual(conds, {"Available": "MinimumReplicasAvailable",
                                 "Progressing": "NewReplicaSetAvailable"})
        C.kubectl("rollout", "status", "deploy/web", "-n", "ctl", "--timeout=120s")

    def test_deployment_with_failing_image_never_ready(self):
        C.kubectl("create", "deployment", "bad", "-n", "ctl", "--image=fail-me:1")
        p = C.kubectl("wait", "--for=condition=Available", "deploy/bad", "-n", "ctl",
                      "--timeout=2s", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(get("deploy", "bad")["status"].get("readyReplicas", 0), 0)

    def test_statefulset_ordinals_pvcs_and_rolling_update(self):
        C.kubectl("apply", "-f", "-", input=sts("db", strategy="updateStrategy: {type: "
                                                "RollingUpdate, rollingUpdate: {partition: 1}}"))
        C.kubectl("rollout", "status", "sts/db", "-n", "ctl", "--timeout=120s")
        pods = json.loads(C.kubectl("get", "pods", "-n", "ctl", "-l", "app=db", "-o",
                                    "json").stdout)["items"]
        by_name = {p["metadata"]["name"]: p for p in pods}
        self.assertEqual(sorted(by_name), ["db-0", "db-1", "db-2"])
        created = [by_name["db-%d" % i]["metadata"]["creationTimestamp"] for i in range(3)]
        self.assertEqual(created, sorted(created))
        rvs = [int(by_name["db-%d" % i]["metadata"]["resourceVersion"]) for i in range(3)]
        self.assertEqual(rvs, sorted(rvs))
        ref = by_name["db-0"]["metadata"]["ownerReferences"][0]
        self.assertEqual((ref["kind"], ref["controller"]), ("StatefulSet", True))
        pvcs = C.kubectl("get", "pvc", "-n", "ctl", "-o", "name").stdout.split()
        for i in range(3):
            self.assertIn("persistentvolumeclaim/data-db-%d" % i, pvcs)
        rev1 = get("sts", "db")["status"]["currentRevision"]
        C.kubectl("set", "image", "sts/db", "-n", "ctl", "c=clickhouse:25.1")
        cluster.wait_until(lambda: get("sts", "db")["status"].get("updatedReplicas") == 2,
                           what="partitioned roll")
        st = get("sts", "db")["status"]
        self.assertNotEqual(st["updateRevision"], rev1)
        self.assertEqual(st["currentRevision"], rev1)
        img = lambda n: get("pod", n)["spec"]["containers"][0]["image"]
        cluster.wait_until(lambda: img("db-2") == "clickhouse:25.1" and
                           img("db-1") == "clickhouse:25.1", what="pods 2 and 1 updated")
        self.assertEqual(img("db-0"), "clickhouse:24.8")
        C.kubectl("patch", "sts", "db", "-n", "ctl", "-p",
                  '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
        cluster.wait_until(lambda: get("sts", "db")["status"].get("currentRevision") ==
                           st["updateRevision"], what="roll complete")
        self.assertEqual(img("db-0"), "clickhouse:25.1")
        C.kubectl("delete", "sts", "db", "-n", "ctl")
        cluster.wait_until(lambda: "db-0" not in C.kubectl("get", "pods", "-n", "ctl", "-o",
                                                           "name").stdout, what="pods GC")
        self.assertIn("data-db-0", C.kubectl("get", "pvc", "-n", "ctl").stdout)  # retained

    def test_statefulset_on_delete_and_pvc_delete_policy(self):
        C.kubectl("apply", "-f", "-", input=sts(
            "od", replicas=2, strategy="updateStrategy: {type: OnDelete}",
            policy="persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, "
                   "whenScaled: Delete}", extra="podManagementPolicy: Parallel"))
        cluster.wait_until(lambda: get("sts", "od")["status"].get("readyReplicas") == 2,
                           what="OnDelete statefulset ready")
        C.kubectl("set", "image", "sts/od", "-n", "ctl", "c=clickhouse:25.1")
        import time
        time.sleep(1)
        self.assertEqual(get("pod", "od-1")["spec"]["containers"][0]["image"], "clickhouse:24.8")
        # The subject is the StatefulSet's OnDelete strategy, not the kubelet's
        # graceful shutdown: delete at once, as local-cluster always does. (On
        # the real control plane a graceful delete waits for kwok's pod-delete
        # stage, which once left the pod terminating for over 300 s on the
        # loaded machine.)
        C.kubectl("delete", "pod", "od-1", "-n", "ctl", "--grace-period=0", "--force")
        cluster.wait_until(lambda: C.kubectl("get", "pod", "od-1", "-n", "ctl", "-o", "json",
                                             check=False).stdout and
                           get("pod", "od-1")["spec"]["containers"][0]["image"] ==
                           "clickhouse:25.1", what="OnDelete recreation")
        C.kubectl("scale", "sts", "od", "-n", "ctl", "--replicas=1")
        cluster.wait_until(lambda: "data-od-1" not in C.kubectl("get", "pvc", "-n", "ctl")
                           .stdout, what="whenScaled=Delete")
        C.kubectl("delete", "sts", "od", "-n", "ctl")
        cluster.wait_until(lambda: "data-od-0" not in C.kubectl("get", "pvc", "-n", "ctl")
                           .stdout, what="whenDeleted=Delete")

    def test_jobs_succeed_or_fail(self):
        C.kubectl("create", "job", "ok", "-n", "ctl", "--image=busybox:1")
        C.kubectl("wait", "--for=condition=Complete", "job/ok", "-n", "ctl", "--timeout=120s")
        self.assertEqual(get("job", "ok")["status"]["succeeded"], 1)
        if not cluster.LOCAL:
            return  # the real Job controller retries a failing pod with a growing
            # back-off (10 s, 20 s, ... up to backoffLimit 6): minutes
        C.kubectl("create", "job", "ko", "-n", "ctl", "--image=fail-me:1")
        C.kubectl("wait", "--for=condition=Failed", "job/ko", "-n", "ctl", "--timeout=120s")
        self.assertEqual(get("job", "ko")["status"]["conditions"][-1]["reason"],
                         "BackoffLimitExceeded")

    @cluster.local_only("--cron-speedup is the simulator's clock; the real CronJob controller "
                        "runs at most one Job a minute")
    def test_cronjob_creates_jobs(self):
        C.kubectl("create", "cronjob", "tick", "-n", "ctl", "--image=busybox:1",
                  "--schedule=* * * * *")
        cluster.wait_until(lambda: "tick-" in C.kubectl("get", "jobs", "-n", "ctl", "-o",
                                                        "name").stdout,
                           timeout=120, what="cronjob job (time sped up 120x)")
        cj = get("cronjob", "tick")
        self.assertIn("lastScheduleTime", cj["status"])
        job = [j for j in json.loads(C.kubectl("get", "jobs", "-n", "ctl", "-o", "json").stdout)
               ["items"] if j["metadata"]["name"].startswith("tick-")][0]
        self.assertEqual(job["metadata"]["ownerReferences"][0]["kind"], "CronJob")

    def test_describe(self):
        C.kubectl("create", "deployment", "desc", "-n", "ctl", "--image=nginx:1.27")
        out = C.kubectl("describe", "deploy", "desc", "-n", "ctl").stdout
        self.assertIn("Name:", out)
        self.assertIn("nginx:1.27", out)
        out = C.kubectl("describe", "ns", "ctl").stdout
        self.assertIn("Active", out)

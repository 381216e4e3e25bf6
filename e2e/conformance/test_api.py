"""API machinery: CRUD, resourceVersion, patches, apply, status, validation,
lists and selectors, finalizers, garbage collection, namespaces."""
import json
import unittest

from . import cluster

C = None


def setUpModule():
    global C
    C = cluster.get()
    C.kubectl("create", "namespace", "api")


DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(name)s, namespace: api, labels: {app: %(name)s}}
spec:
  replicas: %(replicas)d
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata: {labels: {app: %(name)s}}
    spec:
      containers:
      - name: main
        image: %(image)s
        env: [{name: A, value: "1"}, {name: B, value: "%(b)s"}]
        ports: [{containerPort: 8080}]
"""


def deploy(name, replicas=1, image="nginx:1.27", b="2"):
    return DEPLOY % dict(name=name, replicas=replicas, image=image, b=b)


class TestDiscovery(unittest.TestCase):
    def test_version_and_api_resources(self):
        out = C.kubectl("version", "-o", "json").stdout
        v = json.loads(out)["serverVersion"]
        # local-cluster says 1.32 (the kubectl of .tools); kube-cluster its real version
        self.assertEqual(v["major"], "1")
        self.assertGreaterEqual(int(v["minor"]), 32)
        res = C.kubectl("api-resources", "-o", "name").stdout.split()
        for r in ("deployments.apps", "statefulsets.apps", "jobs.batch", "cronjobs.batch",
                  "leases.coordination.k8s.io", "poddisruptionbudgets.policy",
                  "horizontalpodautoscalers.autoscaling", "events.events.k8s.io",
                  "customresourcedefinitions.apiextensions.k8s.io", "roles.rbac.authorization.k8s.io",
                  "configmaps", "secrets", "services", "serviceaccounts", "pods",
                  "persistentvolumeclaims", "events", "namespaces"):
            self.assertIn(r, res)

    def test_health_endpoints_and_default_namespaces(self):
        for p in ("/healthz", "/readyz", "/livez"):
            self.assertEqual(C.http("GET", p, token="")[0], 200)
        names = C.kubectl("get", "ns", "-o", "name").stdout.split()
        for n in ("namespace/default", "namespace/kube-system", "namespace/kube-public"):
            self.assertIn(n, names)

    @cluster.local_only("local-cluster never answers protobuf (docs/local-cluster.md); "
                        "kube-apiserver does when the client prefers it")
    def test_protobuf_accept_answers_json(self):
        r, data = C.http("GET", "/api/v1/namespaces/default", raw=True,
                         headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(json.loads(data)["kind"], "Namespace")


class TestCrud(unittest.TestCase):
    def test_create_get_uid_rv_and_stale_update(self):
        C.kubectl("create", "configmap", "c1", "-n", "api", "--from-literal=k=v")
        st, cm = C.http("GET", "/api/v1/namespaces/api/configmaps/c1")
        self.assertEqual(st, 200)
        self.assertTrue(cm["metadata"]["uid"])
        self.assertTrue(cm["metadata"]["creationTimestamp"])
        rv1 = int(cm["metadata"]["resourceVersion"])
        cm["data"]["k"] = "v2"
        st, cm2 = C.http("PUT", "/api/v1/namespaces/api/configmaps/c1", cm)
        self.assertEqual(st, 200)
        self.assertGreater(int(cm2["metadata"]["resourceVersion"]), rv1)
        cm["data"]["k"] = "v3"          # still carries rv1: stale
        st, err = C.http("PUT", "/api/v1/namespaces/api/configmaps/c1", cm)
        self.assertEqual(st, 409)
        self.assertEqual(err["reason"], "Conflict")
        self.assertIn("the object has been modified", err["message"])
        del cm2["metadata"]["resourceVersion"]   # kube-apiserver refuses a create with one
        st, err = C.http("POST", "/api/v1/namespaces/api/configmaps", cm2)
        self.assertEqual((st, err["reason"]), (409, "AlreadyExists"))

    def test_secret_string_data_and_generate_name(self):
        st, s = C.http("POST", "/api/v1/namespaces/api/secrets",
                       {"metadata": {"generateName": "sec-"}, "stringData": {"pw": "hunter2"}})
        self.assertEqual(st, 201)
        self.assertTrue(s["metadata"]["name"].startswith("sec-"))
        self.assertEqual(s["data"], {"pw": "aHVudGVyMg=="})
        self.assertNotIn("stringData", s)
        self.assertEqual(s["type"], "Opaque")

    def test_service_gets_cluster_ip(self):
        C.kubectl("create", "service", "clusterip", "svc1", "-n", "api", "--tcp=80:8080")
        svc = json.loads(C.kubectl("get", "svc", "svc1", "-n", "api", "-o", "json").stdout)
        # 10.96.0.0/12, kubeadm's default range, on both servers
        self.assertRegex(svc["spec"]["clusterIP"], r"^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$")
        self.assertEqual(svc["spec"]["ports"][0]["protocol"], "TCP")

    def test_not_found_and_missing_namespace(self):
        st, err = C.http("GET", "/api/v1/namespaces/api/configmaps/nope")
        self.assertEqual((st, err["reason"]), (404, "NotFound"))
        self.assertEqual(err["message"], 'configmaps "nope" not found')
        st, err = C.http("POST", "/api/v1/namespaces/nosuchns/configmaps",
                         {"metadata": {"name": "x"}})
        self.assertEqual((st, err["message"]), (404, 'namespaces "nosuchns" not found'))

    def test_dry_run_does_not_persist(self):
        st, _ = C.http("POST", "/api/v1/namespaces/api/configmaps?dryRun=All",
                       {"metadata": {"name": "dry"}})
        self.assertEqual(st, 201)
        self.assertEqual(C.http("GET", "/api/v1/namespaces/api/configmaps/dry")[0], 404)


class TestApplyAndPatch(unittest.TestCase):
    def test_client_side_apply_merges_lists_by_key(self):
        C.kubectl("apply", "-f", "-", input=deploy("csa"))
        C.kubectl("apply", "-f", "-", input=deploy("csa", replicas=2, b="3"))
        d = json.loads(C.kubectl("get", "deploy", "csa", "-n", "api", "-o", "json").stdout)
        self.assertEqual(d["spec"]["replicas"], 2)
        self.assertEqual(d["spec"]["template"]["spec"]["containers"][0]["env"],
                         [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration",
                      d["metadata"]["annotations"])
        self.assertEqual(d["metadata"]["generation"], 2)

    def test_strategic_json_and_merge_patches(self):
        C.kubectl("apply", "-f", "-", input=deploy("pat"))
        C.kubectl("patch", "deploy", "pat", "-n", "api", "-p",
                  '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:2"}]}}}}')
        C.kubectl("patch", "deploy", "pat", "-n", "api", "--type", "json", "-p",
                  '[{"op":"replace","path":"/spec/replicas","value":3}]')
        C.kubectl("patch", "deploy", "pat", "-n", "api", "--type", "merge", "-p",
                  '{"metadata":{"labels":{"extra":"yes"}}}')
        d = json.loads(C.kubectl("get", "deploy", "pat", "-n", "api", "-o", "json").stdout)
        c = d["spec"]["template"]["spec"]["containers"]
        self.assertEqual(len(c), 1)
        self.assertEqual(c[0]["image"], "nginx:2")
        self.assertEqual(len(c[0]["env"]), 2)       # strategic merge kept the env
        self.assertEqual(d["spec"]["replicas"], 3)
        self.assertEqual(d["metadata"]["labels"]["extra"], "yes")

    def test_server_side_apply_conflict_force_and_removal(self):
        C.kubectl("apply", "--server-side", "--field-manager", "alice", "-f", "-",
                  input=deploy("ssa", replicas=1))
        p = C.kubectl("apply", "--server-side", "--field-manager", "bob", "-f", "-",
                      input=deploy("ssa", replicas=4), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('Apply failed with 1 conflict: conflict with "alice": .spec.replicas',
                      p.stderr)
        body = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "ssa", "namespace": "api"}, "spec": {"replicas": 5}}
        st, err = C.http("PATCH", "/apis/apps/v1/namespaces/api/deployments/ssa?fieldManager=bob",
                         body, ctype="application/apply-patch+yaml")
        self.assertEqual((st, err["reason"]), (409, "Conflict"))
        self.assertEqual(err["details"]["causes"][0]["field"], ".spec.replicas")
        C.kubectl("apply", "--server-side", "--field-manager", "bob", "--force-conflicts",
                  "-f", "-", input=deploy("ssa", replicas=4))
        d = json.loads(C.kubectl("get", "deploy", "ssa", "-n", "api", "-o", "json",
                                 "--show-managed-fields").stdout)
        self.assertEqual(d["spec"]["replicas"], 4)
        mgrs = {m["manager"]: m for m in d["metadata"]["managedFields"]}
        self.assertNotIn("f:replicas", json.dumps(mgrs["alice"]["fieldsV1"]))
        self.assertIn('k:{\\"name\\":\\"main\\"}', json.dumps(mgrs["bob"]["fieldsV1"]))
        # alice stops applying env B; bob still owns it, so it stays
        doc = deploy("ssa", replicas=4).replace(', {name: B, value: "2"}', "")
        C.kubectl("apply", "--server-side", "--field-manager", "alice", "-f", "-", input=doc)
        d = json.loads(C.kubectl("get", "deploy", "ssa", "-n", "api", "-o", "json").stdout)
        self.assertEqual(len(d["spec"]["template"]["spec"]["containers"][0]["env"]), 2)
        # a field only one applier owned disappears when it stops applying it
        C.kubectl("apply", "--server-side", "--field-manager", "carol", "-f", "-", input="""
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa-cm, namespace: api, labels: {a: "1", b: "2"}}
data: {x: "1", y: "2"}
""")
        C.kubectl("apply", "--server-side", "--field-manager", "carol", "-f", "-", input="""
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa-cm, namespace: api, labels: {a: "1"}}
data: {x: "1"}
""")
        cm = json.loads(C.kubectl("get", "cm", "ssa-cm", "-n", "api", "-o", "json").stdout)
        self.assertEqual(cm["data"], {"x": "1"})
        self.assertEqual(cm["metadata"]["labels"], {"a": "1"})

    def test_ssa_ports_merge_by_container_port(self):
        C.kubectl("apply", "--server-side", "-f", "-", input=deploy("ports"))
        C.kubectl("apply", "--server-side", "-f", "-", input=deploy("ports"))
        d = json.loads(C.kubectl("get", "deploy", "ports", "-n", "api", "-o", "json").stdout)
        self.assertEqual(d["spec"]["template"]["spec"]["containers"][0]["ports"],
                         [{"containerPort": 8080, "protocol": "TCP"}])

    def test_noop_update_keeps_resource_version(self):
        doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: noop, namespace: api}\n" \
              "data: {a: b}\n"
        for how in (["--server-side"], []):
            C.kubectl("apply", *how, "-f", "-", input=doc)
            rv1 = C.kubectl("get", "cm", "noop", "-n", "api", "-o",
                            "jsonpath={.metadata.resourceVersion}").stdout
            C.kubectl("apply", *how, "-f", "-", input=doc)
            rv2 = C.kubectl("get", "cm", "noop", "-n", "api", "-o",
                            "jsonpath={.metadata.resourceVersion}").stdout
            self.assertEqual(rv1, rv2)


class TestStatusAndGeneration(unittest.TestCase):
    def test_status_subresource_semantics(self):
        # The Deployment controller (real, or the simulator's) writes the
        # status after the apply, so a GET-modify-PUT may meet a newer
        # resourceVersion: 409 Conflict, whose body is a Status (its "status"
        # is the string "Failure"). A client re-reads and tries again.
        C.kubectl("apply", "-f", "-", input=deploy("stat"))
        base = "/apis/apps/v1/namespaces/api/deployments/stat"
        cluster.wait_until(lambda: C.http("GET", base)[1].get("status", {})
                           .get("readyReplicas") == 1, timeout=120, what="stat ready")

        def put(path, edit):
            for _ in range(20):
                _, cur = C.http("GET", base)
                before = json.loads(json.dumps(cur))
                edit(cur)
                st, out = C.http("PUT", path, cur)
                if st != 409:
                    self.assertEqual(st, 200, out)
                    return before, out
            self.fail("PUT %s: still 409 after 20 fresh reads" % path)

        def main_edit(d):
            d["status"] = {"replicas": 77}
            d["metadata"]["labels"]["changed"] = "yes"
        before, d2 = put(base, main_edit)
        gen = before["metadata"]["generation"]
        self.assertNotEqual(d2.get("status", {}).get("replicas"), 77)
        self.assertEqual(d2["metadata"]["labels"]["changed"], "yes")
        self.assertEqual(d2["metadata"]["generation"], gen)   # metadata only: no bump

        def status_edit(d):
            d["status"] = {"replicas": 77}
            d["spec"]["replicas"] = 9
        _, d3 = put(base + "/status", status_edit)
        self.assertEqual(d3["status"]["replicas"], 77)
        self.assertEqual(d3["spec"]["replicas"], 1)
        self.assertEqual(d3["metadata"]["generation"], gen)
        st, d4 = C.http("PATCH", base, {"spec": {"replicas": 2}},
                        ctype="application/merge-patch+json")
        self.assertEqual(st, 200, d4)
        self.assertEqual(d4["metadata"]["generation"], gen + 1)

    def test_scale_subresource(self):
        C.kubectl("apply", "-f", "-", input=deploy("scl"))
        C.kubectl("scale", "deploy", "scl", "-n", "api", "--replicas=3")
        _, sc = C.http("GET", "/apis/apps/v1/namespaces/api/deployments/scl/scale")
        self.assertEqual((sc["kind"], sc["spec"]["replicas"]), ("Scale", 3))
        self.assertEqual(sc["status"]["selector"], "app=scl")


class TestValidation(unittest.TestCase):
    def test_invalid_name(self):
        p = C.kubectl("create", "configmap", "Bad_Name", "-n", "api", check=False)
        self.assertIn('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: '
                      '"Bad_Name": a lowercase RFC 1123 subdomain', p.stderr)
        # (a leading digit, "1svc", is valid since 1.34's relaxed Service
        # names; local-cluster still refuses it)
        st, err = C.http("POST", "/api/v1/namespaces/api/services",
                         {"metadata": {"name": "svc_1"}, "spec": {"ports": [{"port": 80}]}})
        self.assertEqual((st, err["reason"]), (422, "Invalid"))
        self.assertEqual(err["details"]["causes"][0]["field"], "metadata.name")

    def test_label_value_and_selector_mismatch(self):
        bad = deploy("sel").replace("template:\n    metadata: {labels: {app: sel}}",
                                    "template:\n    metadata: {labels: {app: other}}")
        p = C.kubectl("apply", "-f", "-", input=bad, check=False)
        self.assertIn("spec.template.metadata.labels: Invalid value: ", p.stderr)
        self.assertIn("`selector` does not match template `labels`", p.stderr)
        st, err = C.http("POST", "/api/v1/namespaces/api/configmaps",
                         {"metadata": {"name": "lv", "labels": {"a": "bad value"}}})
        self.assertEqual(st, 422)
        self.assertIn("metadata.labels: Invalid value: \"bad value\"", err["message"])

    def test_required_fields(self):
        st, err = C.http("POST", "/apis/apps/v1/namespaces/api/deployments",
                         {"metadata": {"name": "req"}, "spec": {"template": {"spec": {}}}})
        self.assertEqual(st, 422)
        fields = [c["field"] for c in err["details"]["causes"]]
        self.assertIn("spec.selector", fields)
        self.assertIn("spec.template.spec.containers", fields)

    def test_immutable_fields(self):
        C.kubectl("apply", "-f", "-", input=deploy("imm"))
        p = C.kubectl("patch", "deploy", "imm", "-n", "api", "--type", "merge", "-p",
                      '{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":'
                      '{"labels":{"app":"x"}}}}}', check=False)
        # The value's rendering differs by version (Go syntax before 1.34,
        # JSON after); the field and the reason do not.
        self.assertIn("spec.selector: Invalid value: ", p.stderr)
        self.assertIn("field is immutable", p.stderr)
        C.kubectl("apply", "-f", "-", input="""
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: imm, namespace: api}
spec:
  serviceName: a
  selector: {matchLabels: {app: imm}}
  template: {metadata: {labels: {app: imm}}, spec: {containers: [{name: c, image: x:1}]}}
""")
        p = C.kubectl("patch", "sts", "imm", "-n", "api", "--type", "merge", "-p",
                      '{"spec":{"serviceName":"b"}}', check=False)
        self.assertIn("spec: Forbidden: updates to statefulset spec for fields other than",
                      p.stderr)
        C.kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: imm, namespace: api}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
""")
        # resizing is judged for a bound claim (an unbound one is refused as
        # immutable); on the real control plane the PV controller binds it
        # a moment after the create
        cluster.wait_until(lambda: json.loads(C.kubectl(
            "get", "pvc", "imm", "-n", "api", "-o", "json").stdout)["status"].get("phase")
            == "Bound", interval=0.5, what="pvc/imm Bound")
        if cluster.LOCAL:
            # local-cluster lets any bound claim grow; kube-apiserver only one
            # that a StorageClass with allowVolumeExpansion provisioned
            C.kubectl("patch", "pvc", "imm", "-n", "api", "-p",
                      '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}')
            p = C.kubectl("patch", "pvc", "imm", "-n", "api", "-p",
                          '{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}', check=False)
            self.assertIn("spec.resources.requests.storage: Forbidden", p.stderr)
        else:
            p = C.kubectl("patch", "pvc", "imm", "-n", "api", "-p",
                          '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}', check=False)
            self.assertIn("only dynamically provisioned pvc can be resized", p.stderr)
        C.kubectl("create", "job", "imm", "-n", "api", "--image=busybox:1")
        p = C.kubectl("patch", "job", "imm", "-n", "api", "--type", "json", "-p",
                      '[{"op":"replace","path":"/spec/template/spec/containers/0/image",'
                      '"value":"busybox:2"}]', check=False)
        self.assertIn("spec.template: Invalid value:", p.stderr)
        self.assertIn("field is immutable", p.stderr)


class TestListsAndSelectors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        C.kubectl("create", "namespace", "lists")
        for i in range(7):
            C.http("POST", "/api/v1/namespaces/lists/configmaps", {"metadata": {
                "name": "cm-%d" % i, "labels": {"tier": ["a", "b", "c"][i % 3],
                                                **({"odd": "y"} if i % 2 else {})}}})

    def names(self, q):
        _, lst = C.http("GET", "/api/v1/namespaces/lists/configmaps?" + q)
        return [o["metadata"]["name"] for o in lst["items"] if o["metadata"]["name"] != "kube-root-ca.crt"]

    def test_pagination(self):
        got, cont = [], ""
        while True:
            _, lst = C.http("GET", "/api/v1/namespaces/lists/configmaps?limit=3" +
                            ("&continue=" + cont if cont else ""))
            got += [o["metadata"]["name"] for o in lst["items"]]
            self.assertLessEqual(len(lst["items"]), 3)
            cont = lst["metadata"].get("continue")
            if not cont:
                break
            self.assertGreater(lst["metadata"]["remainingItemCount"], 0)
        self.assertEqual(sorted(got), sorted(set(got)))
        self.assertEqual(len([g for g in got if g.startswith("cm-")]), 7)
        self.assertTrue(lst["metadata"]["resourceVersion"])

    def test_label_selectors(self):
        self.assertEqual(self.names("labelSelector=tier%3Da"), ["cm-0", "cm-3", "cm-6"])
        self.assertEqual(self.names("labelSelector=tier%3D%3Db,odd"), ["cm-1"])
        self.assertEqual(self.names("labelSelector=tier!%3Da,!odd"), ["cm-2", "cm-4"])
        self.assertEqual(self.names("labelSelector=tier+in+(a,c),odd"), ["cm-3", "cm-5"])
        self.assertEqual(self.names("labelSelector=tier+notin+(a,c)"), ["cm-1", "cm-4"])
        out = C.kubectl("get", "cm", "-n", "lists", "-l", "tier in (b),odd", "-o", "name")
        self.assertEqual(out.stdout.split(), ["configmap/cm-1"])

    def test_field_selectors(self):
        self.assertEqual(self.names("fieldSelector=metadata.name%3Dcm-4"), ["cm-4"])
        _, lst = C.http("GET", "/api/v1/configmaps?fieldSelector=metadata.namespace%3Dlists,"
                        "metadata.name!%3Dcm-0")
        self.assertEqual(len([o for o in lst["items"] if o["metadata"]["name"].startswith("cm-")]), 6)
        st, err = C.http("GET", "/api/v1/configmaps?fieldSelector=data.x%3D1")
        self.assertEqual(st, 400)
        # the wording differs by version: "field label not supported" (local,
        # older servers), "is not a known field selector" (1.36)
        self.assertRegex(err["message"], "field label not supported|is not a known field selector")


class TestDeletion(unittest.TestCase):
    def test_finalizers_hold_object(self):
        C.http("POST", "/api/v1/namespaces/api/configmaps",
               {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
        st, o = C.http("DELETE", "/api/v1/namespaces/api/configmaps/fin")
        self.assertEqual(st, 200)
        self.assertTrue(o["metadata"]["deletionTimestamp"])
        _, o = C.http("GET", "/api/v1/namespaces/api/configmaps/fin")
        self.assertTrue(o["metadata"]["deletionTimestamp"])
        C.kubectl("patch", "cm", "fin", "-n", "api", "--type", "json", "-p",
                  '[{"op":"remove","path":"/metadata/finalizers"}]')
        self.assertEqual(C.http("GET", "/api/v1/namespaces/api/configmaps/fin")[0], 404)

    def test_preconditions(self):
        _, o = C.http("POST", "/api/v1/namespaces/api/configmaps", {"metadata": {"name": "pre"}})
        st, err = C.http("DELETE", "/api/v1/namespaces/api/configmaps/pre",
                         {"preconditions": {"uid": "wrong"}})
        self.assertEqual(st, 409)
        self.assertRegex(err["message"], "Precondition failed: UID in precondition: wrong|"
                         r"the UID in the precondition \(wrong\) does not match")
        st, _ = C.http("DELETE", "/api/v1/namespaces/api/configmaps/pre",
                       {"preconditions": {"uid": o["metadata"]["uid"],
                                          "resourceVersion": o["metadata"]["resourceVersion"]}})
        self.assertEqual(st, 200)

    def _owner_and_child(self, name):
        _, owner = C.http("POST", "/api/v1/namespaces/api/configmaps", {"metadata": {"name": name}})
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": name,
               "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}
        C.http("POST", "/api/v1/namespaces/api/secrets",
               {"metadata": {"name": name + "-child", "ownerReferences": [ref]}})
        return owner

    def test_gc_background(self):
        self._owner_and_child("gcbg")
        C.kubectl("delete", "cm", "gcbg", "-n", "api")
        cluster.wait_until(lambda: C.http("GET", "/api/v1/namespaces/api/secrets/gcbg-child")[0]
                           == 404, what="background GC")

    def test_gc_foreground(self):
        self._owner_and_child("gcfg")
        C.kubectl("delete", "cm", "gcfg", "-n", "api", "--cascade=foreground")
        self.assertEqual(C.http("GET", "/api/v1/namespaces/api/secrets/gcfg-child")[0], 404)
        self.assertEqual(C.http("GET", "/api/v1/namespaces/api/configmaps/gcfg")[0], 404)

    def test_gc_orphan(self):
        self._owner_and_child("gcor")
        C.kubectl("delete", "cm", "gcor", "-n", "api", "--cascade=orphan")
        cluster.wait_until(lambda: C.http("GET", "/api/v1/namespaces/api/configmaps/gcor")[0]
                           == 404, what="orphan finalizer")
        st, s = C.http("GET", "/api/v1/namespaces/api/secrets/gcor-child")
        self.assertEqual(st, 200)
        self.assertNotIn("ownerReferences", s["metadata"])

    def test_namespace_deletion_cascades(self):
        C.kubectl("create", "namespace", "doomed")
        C.kubectl("create", "configmap", "x", "-n", "doomed")
        C.http("POST", "/api/v1/namespaces/doomed/configmaps",
               {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
        C.kubectl("delete", "namespace", "doomed", "--wait=false")
        _, ns = C.http("GET", "/api/v1/namespaces/doomed")
        self.assertEqual(ns["status"]["phase"], "Terminating")
        st, err = C.http("POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "y"}})
        self.assertEqual(st, 403)
        self.assertIn("because it is being terminated", err["message"])
        cluster.wait_until(lambda: C.http("GET", "/api/v1/namespaces/doomed/configmaps/x")[0]
                           == 404, what="namespace content deletion")
        self.assertEqual(C.http("GET", "/api/v1/namespaces/doomed")[0], 200)
        C.http("PATCH", "/api/v1/namespaces/doomed/configmaps/held",
               {"metadata": {"finalizers": None}}, ctype="application/merge-patch+json")
        cluster.wait_until(lambda: C.http("GET", "/api/v1/namespaces/doomed")[0] == 404,
                           what="namespace removal")

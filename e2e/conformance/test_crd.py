"""CustomResourceDefinitions: serving, discovery, schema validation,
pruning, defaults, status and scale subresources, printer columns, explain."""
import json
import os
import unittest

from . import cluster

C = None


def setUpModule():
    global C
    C = cluster.get()
    C.kubectl("apply", "-f", os.path.join(cluster.FIXTURES, "widgets-crd.yaml"))
    C.kubectl("create", "namespace", "crd")


def widget(name, spec):
    return json.dumps({"apiVersion": "conformance.example.com/v1", "kind": "Widget",
                       "metadata": {"name": name, "namespace": "crd"}, "spec": spec})


BASE = "/apis/conformance.example.com/v1/namespaces/crd/widgets"


class TestCrd(unittest.TestCase):
    def test_established_and_discovered(self):
        crd = json.loads(C.kubectl("get", "crd", "widgets.conformance.example.com",
                                   "-o", "json").stdout)
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        self.assertEqual(conds.get("Established"), "True")
        self.assertEqual(conds.get("NamesAccepted"), "True")
        res = C.kubectl("api-resources", "--api-group=conformance.example.com").stdout
        self.assertIn("wdg", res)
        C.kubectl("wait", "--for=condition=Established",
                  "crd/widgets.conformance.example.com", "--timeout=120s")

    def test_defaults_pruning_and_strict(self):
        C.kubectl("apply", "-f", "-", input=widget("w1", {"size": 2, "extra": {"keep": 1}}))
        w = json.loads(C.kubectl("get", "wdg", "w1", "-n", "crd", "-o", "json").stdout)
        self.assertEqual(w["spec"]["mode"], "fast")               # default
        self.assertEqual(w["spec"]["extra"], {"keep": 1})         # preserved
        self.assertEqual(w["metadata"]["generation"], 1)
        p = C.kubectl("apply", "-f", "-", input=widget("w2", {"size": 2, "junk": 1}), check=False)
        self.assertIn('strict decoding error: unknown field "spec.junk"', p.stderr)
        st, w2 = C.http("POST", BASE + "?fieldValidation=Ignore",
                        json.loads(widget("w2", {"size": 2, "junk": 1})))
        self.assertEqual(st, 201)
        self.assertNotIn("junk", w2["spec"])                      # pruned

    def test_schema_validation_messages(self):
        cases = [
            ({"size": 20}, "spec.size: Invalid value: 20: spec.size in body should be less "
                           "than or equal to 10"),
            ({"size": 0}, "spec.size in body should be greater than or equal to 1"),
            ({"size": "x"}, 'spec.size: Invalid value: "string": spec.size in body must be of '
                            'type integer: "string"'),
            ({"size": 1, "mode": "odd"}, 'spec.mode: Unsupported value: "odd": supported '
                                         'values: "fast", "slow"'),
            ({"size": 1, "name": "ABC"}, "spec.name in body should match '^[a-z]+$'"),
            ({"size": 1, "name": "abcdefghij"}, "spec.name: Too long: may not be more than 8"),
            ({"size": 1, "tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most "
                                                   "2 items"),
            ({}, "spec.size: Required value"),
        ]
        for spec, msg in cases:
            st, err = C.http("POST", BASE, json.loads(widget("bad", spec)))
            self.assertEqual(st, 422, spec)
            self.assertEqual(err["reason"], "Invalid")
            self.assertIn(msg, err["message"])
            self.assertTrue(err["message"].startswith('Widget.conformance.example.com "bad" is '
                                                      'invalid: '))
        st, _ = C.http("POST", BASE, json.loads(widget("ios", {"size": 1, "port": "http"})))
        self.assertEqual(st, 201)

    def test_status_subresource_and_generation(self):
        C.kubectl("apply", "-f", "-", input=widget("st", {"size": 3}))
        _, w = C.http("GET", BASE + "/st")
        w["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
        _, w2 = C.http("PUT", BASE + "/st", w)
        self.assertNotIn("status", w2)
        _, w3 = C.http("PUT", BASE + "/st/status", w)
        self.assertEqual(w3["status"]["conditions"][0]["status"], "True")
        self.assertEqual(w3["metadata"]["generation"], 1)
        _, w4 = C.http("PATCH", BASE + "/st", {"metadata": {"labels": {"a": "b"}}},
                       ctype="application/merge-patch+json")
        self.assertEqual(w4["metadata"]["generation"], 1)
        _, w5 = C.http("PATCH", BASE + "/st", {"spec": {"size": 4}},
                       ctype="application/merge-patch+json")
        self.assertEqual(w5["metadata"]["generation"], 2)
        out = C.kubectl("get", "wdg", "st", "-n", "crd", "-o", "wide").stdout.split("\n")
        self.assertEqual(out[0].split(), ["NAME", "SIZE", "READY", "MODE"])
        self.assertEqual(out[1].split(), ["st", "4", "True", "fast"])
        p = C.kubectl("patch", "wdg", "st", "-n", "crd", "-p", '{"spec":{"size":5}}', check=False)
        self.assertIn("application/strategic-merge-patch+json is not supported", p.stderr)

    def test_scale_subresource(self):
        C.kubectl("apply", "-f", "-", input=widget("sc", {"size": 1, "replicas": 1}))
        C.kubectl("scale", "wdg", "sc", "-n", "crd", "--replicas=3")
        _, w = C.http("GET", BASE + "/sc")
        self.assertEqual(w["spec"]["replicas"], 3)

    def test_list_map_merge_with_ssa(self):
        C.kubectl("apply", "--server-side", "--field-manager", "m1", "-f", "-",
                  input=widget("lm", {"size": 1, "items": [{"name": "a", "value": "1"}]}))
        C.kubectl("apply", "--server-side", "--field-manager", "m2", "-f", "-",
                  input=widget("lm", {"size": 1, "items": [{"name": "b", "value": "2"}]}))
        _, w = C.http("GET", BASE + "/lm")
        self.assertEqual(sorted(i["name"] for i in w["spec"]["items"]), ["a", "b"])

    def test_explain(self):
        out = C.kubectl("explain", "widget.spec").stdout
        self.assertIn("size", out)
        self.assertIn("-required-", out)
        self.assertIn("Desired widget.", out)

    def test_crd_deletion_removes_instances(self):
        C.kubectl("apply", "-f", "-", input="""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.conformance.example.com}
spec:
  group: conformance.example.com
  scope: Cluster
  names: {plural: gadgets, kind: Gadget}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
""")
        C.kubectl("apply", "-f", "-", input="apiVersion: conformance.example.com/v1\n"
                  "kind: Gadget\nmetadata: {name: g1}\nspec: {a: 1}\n")
        self.assertIn("gadget", C.kubectl("get", "gadgets", "-o", "name").stdout)
        C.kubectl("delete", "crd", "gadgets.conformance.example.com", "--timeout=120s")
        self.assertNotIn("gadgets", C.kubectl("api-resources").stdout)

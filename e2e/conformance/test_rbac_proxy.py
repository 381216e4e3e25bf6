"""ServiceAccount tokens, RBAC from Roles/ClusterRoles and bindings, the
admin bypass, impersonation, and the service proxy (including its RBAC)."""
import json
import unittest

from . import cluster

C = None


def setUpModule():
    global C
    C = cluster.get()
    C.kubectl("create", "namespace", "rbac")
    C.kubectl("create", "serviceaccount", "bot", "-n", "rbac")


def token(sa="bot", ns="rbac"):
    return C.kubectl("create", "token", sa, "-n", ns).stdout.strip()


class TestRbac(unittest.TestCase):
    def test_service_account_denied_then_allowed(self):
        t = token()
        p = C.kubectl("--context", "local-token", "--token", t, "get", "configmaps", "-n", "rbac", check=False)
        self.assertIn('configmaps is forbidden: User "system:serviceaccount:rbac:bot" cannot '
                      'list resource "configmaps" in API group "" in the namespace "rbac"',
                      p.stderr)
        st, err = C.http("GET", "/api/v1/namespaces/rbac/configmaps", token=t)
        self.assertEqual((st, err["reason"], err["kind"]), (403, "Forbidden", "Status"))
        C.kubectl("create", "role", "cm-reader", "-n", "rbac", "--verb=get,list",
                  "--resource=configmaps")
        C.kubectl("create", "rolebinding", "bot-cm", "-n", "rbac", "--role=cm-reader",
                  "--serviceaccount=rbac:bot")
        self.assertEqual(C.http("GET", "/api/v1/namespaces/rbac/configmaps", token=t)[0], 200)
        self.assertEqual(C.http("GET", "/api/v1/namespaces/default/configmaps", token=t)[0], 403)
        st, _ = C.http("POST", "/api/v1/namespaces/rbac/configmaps", {"metadata": {"name": "x"}},
                       token=t)
        self.assertEqual(st, 403)

    def test_subresources_resource_names_and_cluster_roles(self):
        C.kubectl("create", "serviceaccount", "op", "-n", "rbac")
        C.kubectl("apply", "-f", "-", input="""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: conformance-op}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get, list, watch]}
- {apiGroups: [apps], resources: [deployments/status], verbs: [update, patch]}
- {apiGroups: [""], resources: [secrets], resourceNames: [allowed], verbs: [get]}
- {nonResourceURLs: ["/metrics"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: conformance-op}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: conformance-op}
subjects: [{kind: ServiceAccount, name: op, namespace: rbac}]
""")
        t = token("op")
        can = lambda *a: C.kubectl("--context", "local-token", "--token", t, "auth", "can-i", *a,
                                   check=False).stdout.strip()
        self.assertEqual(can("list", "deployments.apps", "-A"), "yes")
        self.assertEqual(can("patch", "deployments.apps", "--subresource=status", "-n", "x"), "yes")
        self.assertEqual(can("patch", "deployments.apps", "-n", "x"), "no")
        self.assertEqual(can("get", "secrets/allowed", "-n", "x"), "yes")
        self.assertEqual(can("get", "secrets/other", "-n", "x"), "no")
        self.assertEqual(can("get", "/metrics"), "yes")
        who = json.loads(C.kubectl("--context", "local-token", "--token", t, "auth", "whoami", "-o", "json").stdout)
        self.assertEqual(who["status"]["userInfo"]["username"], "system:serviceaccount:rbac:op")

    def test_admin_bypass_impersonation_and_bad_token(self):
        self.assertEqual(C.kubectl("auth", "can-i", "delete", "nodes").stdout.strip(), "yes")
        out = C.kubectl("auth", "can-i", "list", "secrets", "-n", "rbac",
                        "--as=system:serviceaccount:rbac:bot", check=False).stdout.strip()
        self.assertEqual(out, "no")
        st, err = C.http("GET", "/api/v1/namespaces", token="not-a-token")
        self.assertEqual((st, err["reason"]), (401, "Unauthorized"))


@cluster.local_only("the service proxy of a real API server forwards to the pods' IPs, which are simulated (no traffic may leave loopback); the operator uses --connect-to there instead")
class TestProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        C.kubectl("create", "namespace", "proxy")
        C.kubectl("create", "service", "clusterip", "ch", "-n", "proxy", "--tcp=8123:8123")
        C.http("PATCH", "/api/v1/namespaces/proxy/services/ch",
               {"spec": {"ports": [{"port": 8123, "name": "http", "targetPort": 8123}]}},
               ctype="application/merge-patch+json")

    def test_forwards_method_query_body_headers(self):
        st, body = C.http("POST", "/api/v1/namespaces/proxy/services/ch:8123/proxy/query/?a=1&b=x",
                          "SELECT 1", ctype="text/plain",
                          headers={"X-ClickHouse-User": "u", "X-ClickHouse-Key": "k"})
        self.assertEqual(st, 201)
        self.assertEqual(body["method"], "POST")
        self.assertEqual(body["path"], "/query/?a=1&b=x")
        self.assertEqual((body["body"], body["user"], body["key"]), ("SELECT 1", "u", "k"))
        st, body = C.http("GET", "/api/v1/namespaces/proxy/services/http:ch:http/proxy/ping")
        self.assertEqual((st, body["path"]), (200, "/ping"))
        raw = C.kubectl("get", "--raw", "/api/v1/namespaces/proxy/services/ch:8123/proxy/x?q=2")
        self.assertEqual(json.loads(raw.stdout)["path"], "/x?q=2")

    def test_missing_service_and_rbac(self):
        st, err = C.http("GET", "/api/v1/namespaces/proxy/services/nope:8123/proxy/")
        self.assertEqual((st, err["reason"]), (404, "NotFound"))
        C.kubectl("create", "serviceaccount", "px", "-n", "proxy")
        t = C.kubectl("create", "token", "px", "-n", "proxy").stdout.strip()
        path = "/api/v1/namespaces/proxy/services/ch:8123/proxy/ping"
        st, err = C.http("GET", path, token=t)
        self.assertEqual(st, 403)
        self.assertIn('cannot get resource "services/proxy"', err["message"])
        C.kubectl("create", "role", "px", "-n", "proxy", "--verb=get,create",
                  "--resource=services/proxy")
        C.kubectl("create", "rolebinding", "px", "-n", "proxy", "--role=px",
                  "--serviceaccount=proxy:px")
        self.assertEqual(C.http("GET", path, token=t)[0], 200)

"""Authentication (client certificates, the admin token, ServiceAccount
tokens) and RBAC authorization from the stored Roles and bindings.

ServiceAccount tokens are HS256 JWTs signed with a key kept in the
cluster directory, so they survive a restart when state persists.
Members of system:masters bypass RBAC, as upstream's privileged group.
"""
import base64
import hashlib
import hmac
import json
import os
import time

from .errors import ApiError

MASTERS = "system:masters"


def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class User:
    def __init__(self, name, groups=(), uid="", extra=None):
        self.name, self.groups, self.uid = name, list(groups), uid
        self.extra = extra or {}

    def is_admin(self):
        return MASTERS in self.groups


ANONYMOUS = User("system:anonymous", ["system:unauthenticated"])


class Authn:
    def __init__(self, store, directory):
        self.store = store
        self.admin_token = _read_or_make(os.path.join(directory, "admin-token"), 24)
        self.key = _read_or_make(os.path.join(directory, "sa-signing-key"), 32).encode()

    def from_cert(self, cert):
        if not cert:
            return None
        cn, orgs = "", []
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
                elif k == "organizationName":
                    orgs.append(v)
        return User(cn, orgs + ["system:authenticated"]) if cn else None

    def from_token(self, token):
        if hmac.compare_digest(token, self.admin_token):
            return User("kubernetes-admin", [MASTERS, "system:authenticated"])
        claims = self.verify(token)
        if claims is None:
            return None
        ns, name = claims["ns"], claims["sa"]
        sa = self.store.get("serviceaccounts", ns, name)
        if sa is None or sa["metadata"]["uid"] != claims.get("uid"):
            return None
        return User("system:serviceaccount:%s:%s" % (ns, name),
                    ["system:serviceaccounts", "system:serviceaccounts:" + ns,
                     "system:authenticated"], sa["metadata"]["uid"])

    def mint(self, ns, name, uid, seconds=3600, audiences=None):
        now = int(time.time())
        claims = {"iss": "https://kubernetes.default.svc.cluster.local",
                  "sub": "system:serviceaccount:%s:%s" % (ns, name),
                  "aud": audiences or ["https://kubernetes.default.svc.cluster.local"],
                  "iat": now, "nbf": now, "exp": now + seconds,
                  "ns": ns, "sa": name, "uid": uid}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.key, (head + "." + body).encode(), hashlib.sha256).digest()
        return head + "." + body + "." + _b64(sig), claims["exp"]

    def verify(self, token):
        parts = token.split(".")
        if len(parts) != 3:
            return None
        want = hmac.new(self.key, (parts[0] + "." + parts[1]).encode(),
                        hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(want, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return None
        if claims.get("exp", 0) < time.time():
            return None
        return claims


def _read_or_make(path, n):
    if os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    tok = base64.urlsafe_b64encode(os.urandom(n)).decode().rstrip("=")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(tok + "\n")
    return tok


class Attrs:
    """What a request does, in the terms RBAC rules speak."""

    def __init__(self, verb, group="", resource="", sub="", name="", ns="", path=None):
        self.verb, self.group, self.resource, self.sub = verb, group, resource, sub
        self.name, self.ns, self.path = name, ns, path


def _subject_matches(s, user):
    kind = s.get("kind")
    if kind == "User":
        return s.get("name") == user.name
    if kind == "Group":
        return s.get("name") in user.groups
    if kind == "ServiceAccount":
        return user.name == "system:serviceaccount:%s:%s" % (s.get("namespace"), s.get("name"))
    return False


def _rule_allows(rule, a):
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    if a.path is not None:
        for u in rule.get("nonResourceURLs") or ():
            if u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1])):
                return True
        return False
    groups = rule.get("apiGroups")
    if groups is None or ("*" not in groups and a.group not in groups):
        return False
    combined = a.resource + ("/" + a.sub if a.sub else "")
    ok = False
    for r in rule.get("resources") or ():
        if r == "*" or r == combined or (a.sub and r == "*/" + a.sub):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames")
    if names:
        return a.name in names
    return True


class Authorizer:
    def __init__(self, store):
        self.store = store

    def rules_for(self, user, ns):
        out = []
        crbs, _ = self.store.list("clusterrolebindings.rbac.authorization.k8s.io")
        for b in crbs:
            if any(_subject_matches(s, user) for s in b.get("subjects") or ()):
                out += self._role_rules(b, None)
        if ns:
            rbs, _ = self.store.list("rolebindings.rbac.authorization.k8s.io", ns)
            for b in rbs:
                if any(_subject_matches(s, user) for s in b.get("subjects") or ()):
                    out += self._role_rules(b, ns)
        return out

    def _role_rules(self, binding, ns):
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            r = self.store.get("clusterroles.rbac.authorization.k8s.io", "", ref.get("name"))
        else:
            r = self.store.get("roles.rbac.authorization.k8s.io", ns or "", ref.get("name"))
        return (r or {}).get("rules") or []

    def allowed(self, user, a):
        if user.is_admin():
            return True
        return any(_rule_allows(rule, a) for rule in self.rules_for(user, a.ns))


def bootstrap_objects():
    """The default ClusterRoles and bindings of a fresh cluster (subset)."""
    read = ["get", "list", "watch"]
    write = ["create", "delete", "deletecollection", "patch", "update"]
    ns_res = ["pods", "services", "endpoints", "configmaps", "persistentvolumeclaims",
              "serviceaccounts", "events", "deployments", "statefulsets", "replicasets",
              "daemonsets", "jobs", "cronjobs", "poddisruptionbudgets",
              "horizontalpodautoscalers", "leases", "ingresses", "networkpolicies"]
    groups = ["", "apps", "batch", "policy", "autoscaling", "coordination.k8s.io",
              "networking.k8s.io"]
    roles = {
        "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                          {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        "admin": [{"apiGroups": groups, "resources": ns_res + ["secrets"],
                   "verbs": read + write},
                  {"apiGroups": ["rbac.authorization.k8s.io"],
                   "resources": ["roles", "rolebindings"], "verbs": read + write}],
        "edit": [{"apiGroups": groups, "resources": ns_res + ["secrets"],
                  "verbs": read + write}],
        "view": [{"apiGroups": groups, "resources": ns_res, "verbs": read}],
        "system:discovery": [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*",
                                                  "/healthz", "/livez", "/openapi",
                                                  "/openapi/*", "/readyz", "/version",
                                                  "/version/"], "verbs": ["get"]}],
        "system:public-info-viewer": [{"nonResourceURLs": ["/healthz", "/livez", "/readyz",
                                                           "/version", "/version/"],
                                       "verbs": ["get"]}],
        "system:basic-user": [{"apiGroups": ["authorization.k8s.io"],
                               "resources": ["selfsubjectaccessreviews",
                                             "selfsubjectrulesreviews"],
                               "verbs": ["create"]},
                              {"apiGroups": ["authentication.k8s.io"],
                               "resources": ["selfsubjectreviews"], "verbs": ["create"]}],
    }
    subjects = {
        "cluster-admin": [("Group", MASTERS)],
        "system:discovery": [("Group", "system:authenticated")],
        "system:public-info-viewer": [("Group", "system:authenticated"),
                                      ("Group", "system:unauthenticated")],
        "system:basic-user": [("Group", "system:authenticated")],
    }
    out = []
    for name, rules in roles.items():
        out.append(("clusterroles.rbac.authorization.k8s.io", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": rules}))
    for name, subs in subjects.items():
        out.append(("clusterrolebindings.rbac.authorization.k8s.io", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": k, "name": n}
                         for k, n in subs]}))
    return out


def review(authz, user, spec):
    """Evaluates a SubjectAccessReview spec for user; returns status."""
    ra = spec.get("resourceAttributes")
    nra = spec.get("nonResourceAttributes")
    if ra:
        a = Attrs(ra.get("verb", ""), ra.get("group", ""), ra.get("resource", ""),
                  ra.get("subresource", ""), ra.get("name", ""), ra.get("namespace", ""))
    elif nra:
        a = Attrs(nra.get("verb", ""), path=nra.get("path", ""))
    else:
        raise ApiError(422, "resourceAttributes or nonResourceAttributes required", "Invalid")
    ok = authz.allowed(user, a)
    st = {"allowed": ok}
    if ok:
        st["reason"] = "RBAC: allowed"
    return st

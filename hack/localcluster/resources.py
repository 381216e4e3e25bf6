"""The resource types the server knows: built-ins and those CRDs add.

A ResourceType carries everything discovery, routing, validation and the
store need to know about one resource (one group/plural), independent of
how many versions serve it.
"""
import threading

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch",
             "update", "watch"]


class ResourceType:
    def __init__(self, group, versions, kind, plural, namespaced=True,
                 short=(), subresources=(), verbs=None, categories=(),
                 generation=False, name_rule="subdomain", singular=None,
                 storage=None, crd=None, virtual=False):
        self.group = group
        self.versions = list(versions)     # served; first is preferred/storage
        self.kind = kind
        self.plural = plural
        self.singular = singular or kind.lower()
        self.namespaced = namespaced
        self.short = list(short)
        self.subresources = set(subresources)
        self.verbs = verbs or ALL_VERBS
        self.categories = list(categories)
        self.generation = generation
        self.name_rule = name_rule
        self.crd = crd                      # the CRD object for custom types
        self.virtual = virtual              # create-only review endpoints
        # Resources sharing storage (core/v1 and events.k8s.io/v1 events)
        # use the same key; conversion happens in convert.py.
        self.key = storage or (plural + "." + group if group else plural)

    @property
    def list_kind(self):
        return self.kind + "List"

    def api_version(self, version=None):
        v = version or self.versions[0]
        return v if not self.group else self.group + "/" + v

    def __repr__(self):
        return "<%s %s>" % (self.plural, self.group)


_W = ["apps", "batch"]
_BUILTIN = [
    # group, versions, kind, plural, namespaced, short, subresources, extra
    ("", ["v1"], "Namespace", "namespaces", False, ["ns"], ["status", "finalize"],
     dict(name_rule="label", verbs=["create", "delete", "get", "list", "patch",
                                    "update", "watch"])),
    ("", ["v1"], "ConfigMap", "configmaps", True, ["cm"], [], {}),
    ("", ["v1"], "Secret", "secrets", True, [], [], {}),
    ("", ["v1"], "Service", "services", True, ["svc"], ["status", "proxy"],
     dict(name_rule="dns1035", categories=["all"])),
    ("", ["v1"], "ServiceAccount", "serviceaccounts", True, ["sa"], ["token"], {}),
    ("", ["v1"], "Pod", "pods", True, ["po"], ["status", "log"], dict(categories=["all"])),
    ("", ["v1"], "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"],
     ["status"], {}),
    ("", ["v1"], "PersistentVolume", "persistentvolumes", False, ["pv"], ["status"], {}),
    ("", ["v1"], "Endpoints", "endpoints", True, ["ep"], [], {}),
    ("", ["v1"], "Event", "events", True, ["ev"], [], {}),
    ("", ["v1"], "Node", "nodes", False, ["no"], ["status"], {}),
    ("", ["v1"], "ResourceQuota", "resourcequotas", True, ["quota"], ["status"], {}),
    ("", ["v1"], "LimitRange", "limitranges", True, ["limits"], [], {}),
    ("apps", ["v1"], "Deployment", "deployments", True, ["deploy"], ["status", "scale"],
     dict(categories=["all"], generation=True)),
    ("apps", ["v1"], "StatefulSet", "statefulsets", True, ["sts"], ["status", "scale"],
     dict(categories=["all"], generation=True)),
    ("apps", ["v1"], "ReplicaSet", "replicasets", True, ["rs"], ["status", "scale"],
     dict(categories=["all"], generation=True)),
    ("apps", ["v1"], "DaemonSet", "daemonsets", True, ["ds"], ["status"],
     dict(categories=["all"], generation=True)),
    ("apps", ["v1"], "ControllerRevision", "controllerrevisions", True, [], [], {}),
    ("batch", ["v1"], "Job", "jobs", True, [], ["status"],
     dict(categories=["all"], generation=True)),
    ("batch", ["v1"], "CronJob", "cronjobs", True, ["cj"], ["status"],
     dict(categories=["all"], generation=True)),
    ("policy", ["v1"], "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"],
     ["status"], dict(generation=True)),
    ("autoscaling", ["v2"], "HorizontalPodAutoscaler", "horizontalpodautoscalers",
     True, ["hpa"], ["status"], dict(categories=["all"], generation=True)),
    ("coordination.k8s.io", ["v1"], "Lease", "leases", True, [], [], {}),
    ("rbac.authorization.k8s.io", ["v1"], "Role", "roles", True, [], [],
     dict(name_rule="path")),
    ("rbac.authorization.k8s.io", ["v1"], "RoleBinding", "rolebindings", True, [], [],
     dict(name_rule="path")),
    ("rbac.authorization.k8s.io", ["v1"], "ClusterRole", "clusterroles", False, [], [],
     dict(name_rule="path")),
    ("rbac.authorization.k8s.io", ["v1"], "ClusterRoleBinding", "clusterrolebindings",
     False, [], [], dict(name_rule="path")),
    ("apiextensions.k8s.io", ["v1"], "CustomResourceDefinition",
     "customresourcedefinitions", False, ["crd", "crds"], ["status"],
     dict(generation=True)),
    ("events.k8s.io", ["v1"], "Event", "events", True, ["ev"], [],
     dict(storage="events")),
    ("networking.k8s.io", ["v1"], "NetworkPolicy", "networkpolicies", True,
     ["netpol"], [], dict(generation=True)),
    ("networking.k8s.io", ["v1"], "Ingress", "ingresses", True, ["ing"], ["status"],
     dict(generation=True)),
    ("storage.k8s.io", ["v1"], "StorageClass", "storageclasses", False, ["sc"], [], {}),
    ("discovery.k8s.io", ["v1"], "EndpointSlice", "endpointslices", True, [], [],
     {}),
    ("authorization.k8s.io", ["v1"], "SelfSubjectAccessReview",
     "selfsubjectaccessreviews", False, [], [], dict(verbs=["create"], virtual=True)),
    ("authorization.k8s.io", ["v1"], "SubjectAccessReview",
     "subjectaccessreviews", False, [], [], dict(verbs=["create"], virtual=True)),
    ("authorization.k8s.io", ["v1"], "SelfSubjectRulesReview",
     "selfsubjectrulesreviews", False, [], [], dict(verbs=["create"], virtual=True)),
    ("authentication.k8s.io", ["v1"], "SelfSubjectReview", "selfsubjectreviews",
     False, [], [], dict(verbs=["create"], virtual=True)),
    ("authentication.k8s.io", ["v1"], "TokenReview", "tokenreviews", False, [], [],
     dict(verbs=["create"], virtual=True)),
]


class Registry:
    """Maps (group, version, plural) to ResourceType; CRDs add and remove."""

    def __init__(self):
        self.lock = threading.Lock()
        self.types = {}        # (group, plural) -> ResourceType
        self.generation = 0    # bumps whenever discovery changes
        for g, vs, kind, plural, nsd, short, subs, extra in _BUILTIN:
            self.add(ResourceType(g, vs, kind, plural, nsd, short, subs, **extra))

    def add(self, rt):
        with self.lock:
            self.types[(rt.group, rt.plural)] = rt
            self.generation += 1

    def remove(self, group, plural):
        with self.lock:
            self.types.pop((group, plural), None)
            self.generation += 1

    def get(self, group, version, plural):
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_key(self, key):
        for rt in list(self.types.values()):
            if rt.key == key and rt.group != "events.k8s.io":
                return rt
        return None

    def by_kind(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        for rt in list(self.types.values()):
            if rt.kind == kind and rt.group == group and version in rt.versions:
                return rt
        return None

    def all(self):
        return list(self.types.values())

    def groups(self):
        """Ordered {group: [versions]} with the core group first."""
        out = {}
        for rt in sorted(self.all(), key=lambda r: (r.crd is not None, r.group)):
            vs = out.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in vs:
                    vs.append(v)
        return out

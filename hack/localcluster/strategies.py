"""Per-type behaviour the generic REST storage delegates to: status reset
on create, finalizers added on deletion, derived fields (Service
clusterIP, Secret stringData, Job selectors, CRD status), and serving a
CRD's resource once it is created.
"""
import base64
import itertools
import re

from . import validation
from .resources import ResourceType


class Strategies:
    def __init__(self, api):
        self.api = api
        self._ips = itertools.count(10)

    # --- create -------------------------------------------------------
    def reset_status(self, rt, obj):
        if rt.crd is not None:
            obj.pop("status", None)
        elif rt.key == "pods":
            obj["status"] = {"phase": "Pending", "qosClass": _qos(obj)}
        elif rt.key == "namespaces":
            obj["status"] = {"phase": "Active"}
        elif rt.key == "persistentvolumeclaims":
            obj["status"] = {"phase": "Pending"}
        elif rt.key == "customresourcedefinitions.apiextensions.k8s.io":
            obj["status"] = {}
        elif rt.key == "services":
            obj["status"] = {"loadBalancer": {}}
        else:
            obj["status"] = {}

    def create_on_update(self, rt):
        return rt.group in ("rbac.authorization.k8s.io", "coordination.k8s.io") or \
            rt.key in ("endpoints", "events")

    # --- every write --------------------------------------------------
    def prepare(self, rt, obj, old):
        fn = getattr(self, "_prep_" + re.sub(r"\W", "_", rt.key), None)
        if fn:
            fn(obj, old)

    def _prep_secrets(self, obj, old):
        sd = obj.pop("stringData", None)
        if sd:
            data = obj.setdefault("data", {}) or {}
            obj["data"] = data
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()

    def _prep_namespaces(self, obj, old):
        m = obj["metadata"]
        m.setdefault("labels", {})
        m["labels"] = dict(m["labels"] or {})
        m["labels"]["kubernetes.io/metadata.name"] = m["name"]
        spec = obj.setdefault("spec", {})
        if old is None:
            spec.setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {"phase": "Active"})

    def _prep_services(self, obj, old):
        s = obj["spec"]
        if s.get("type") == "ExternalName":
            return
        if old is not None and old["spec"].get("clusterIP") and not s.get("clusterIP"):
            s["clusterIP"] = old["spec"]["clusterIP"]
        if not s.get("clusterIP"):
            n = next(self._ips)
            s["clusterIP"] = "10.96.%d.%d" % (n // 250, n % 250 + 1)
        s.setdefault("clusterIPs", [s["clusterIP"]])
        if s.get("type") in ("NodePort", "LoadBalancer"):
            for i, p in enumerate(s.get("ports") or []):
                p.setdefault("nodePort", 30000 + (hash((obj["metadata"]["name"], i)) % 2700))

    def _prep_jobs_batch(self, obj, old):
        s = obj.setdefault("spec", {})
        if old is not None or s.get("manualSelector"):
            return
        uid = obj["metadata"]["uid"]
        name = obj["metadata"]["name"]
        if s.get("selector") is None:
            s["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        t = s.setdefault("template", {})
        meta = t.setdefault("metadata", {})
        labels = meta["labels"] = dict(meta.get("labels") or {})
        labels.update({"batch.kubernetes.io/controller-uid": uid,
                       "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})

    def _prep_persistentvolumeclaims(self, obj, old):
        if old is not None:
            obj.setdefault("status", old.get("status"))

    def _prep_customresourcedefinitions_apiextensions_k8s_io(self, obj, old):
        s = obj.get("spec") or {}
        names = dict(s.get("names") or {})
        if names.get("kind"):
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", names["kind"] + "List")
        s["names"] = names
        for v in s.get("versions") or ():
            if isinstance(v, dict):
                v.setdefault("served", True)
        s.setdefault("conversion", {"strategy": "None"})
        m = obj["metadata"]
        if old is None:
            fins = list(m.get("finalizers") or [])
            if "customresourcecleanup.apiextensions.k8s.io" not in fins:
                fins.append("customresourcecleanup.apiextensions.k8s.io")
            m["finalizers"] = fins
        st = obj.get("status") or {}
        stored = list(st.get("storedVersions") or [])
        for v in s.get("versions") or ():
            if isinstance(v, dict) and v.get("storage") and v.get("name") not in stored:
                stored.append(v["name"])
        ts = st.get("conditions") and st["conditions"][0].get("lastTransitionTime")
        from .rest import now
        ts = ts or now()
        conds = [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": ts}]
        if m.get("deletionTimestamp"):
            conds.append({"type": "Terminating", "status": "True",
                          "reason": "InstanceDeletionInProgress",
                          "message": "CustomResource deletion is in progress",
                          "lastTransitionTime": ts})
        obj["status"] = {"acceptedNames": {k: v for k, v in names.items()},
                         "conditions": conds, "storedVersions": stored}

    def validate(self, rt, obj, old):
        if rt.key != "customresourcedefinitions.apiextensions.k8s.io":
            return []
        s = obj.get("spec") or {}
        n = s.get("names") or {}
        for other in self.api.registry.all():
            if other.group == s.get("group") and other.plural == n.get("plural") and \
                    other.crd is None:
                return [("FieldValueInvalid", "spec.group", "Invalid value: %s: "
                         "conflicts with a built-in resource" % validation.gostr(s["group"]))]
        return []

    # --- deletion -----------------------------------------------------
    def default_propagation(self, rt):
        if rt.key in ("jobs.batch",):
            return "Orphan"
        return "Background"

    def deletion_finalizers(self, rt, obj, policy):
        return []

    def blocks_deletion(self, rt, obj):
        return rt.key == "namespaces" and bool((obj.get("spec") or {}).get("finalizers"))

    def on_terminating(self, rt, obj):
        if rt.key == "namespaces":
            obj["status"] = {"phase": "Terminating"}

    def after_write(self, rt, obj, old, etype):
        if rt.key != "customresourcedefinitions.apiextensions.k8s.io":
            return
        reg = self.api.registry
        if etype == "DELETED":
            s = obj["spec"]
            reg.remove(s["group"], s["names"]["plural"])
        else:
            if old is not None:
                os_ = old["spec"]
                if (os_["group"], os_["names"]["plural"]) != \
                        (obj["spec"]["group"], obj["spec"]["names"]["plural"]):
                    reg.remove(os_["group"], os_["names"]["plural"])
            reg.add(crd_type(obj))


def _qos(pod):
    cs = (pod.get("spec") or {}).get("containers") or []
    if any((c.get("resources") or {}).get("requests") or
           (c.get("resources") or {}).get("limits") for c in cs):
        return "Burstable"
    return "BestEffort"


def _version_key(v):
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, 0, 0, v)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)


def crd_type(crd):
    s = crd["spec"]
    n = s["names"]
    served = sorted((v["name"] for v in s.get("versions") or () if v.get("served", True)),
                    key=_version_key)
    subs = set()
    for v in s.get("versions") or ():
        for k in (v.get("subresources") or {}):
            subs.add(k)
    return ResourceType(s["group"], served or [s["versions"][0]["name"]], n["kind"],
                        n["plural"], s.get("scope") == "Namespaced", n.get("shortNames") or (),
                        subs, categories=n.get("categories") or (), generation=True,
                        singular=n.get("singular"), crd=crd)


# --- events: core/v1 is the stored form; events.k8s.io/v1 converts -------
_RENAMES = [("involvedObject", "regarding"), ("message", "note"),
            ("reportingComponent", "reportingController"), ("source", "deprecatedSource"),
            ("firstTimestamp", "deprecatedFirstTimestamp"),
            ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount")]


def event_to_v1(obj):
    o = dict(obj)
    for core, new in _RENAMES:
        if core in o:
            o[new] = o.pop(core)
    o["apiVersion"] = "events.k8s.io/v1"
    return o


def event_from_v1(obj):
    o = dict(obj)
    for core, new in _RENAMES:
        if new in o:
            o[core] = o.pop(new)
    o["apiVersion"] = "v1"
    return o

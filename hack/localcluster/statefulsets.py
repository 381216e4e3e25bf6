"""The simulated StatefulSet controller: pods in ordinal order
(OrderedReady or Parallel), PVCs from volumeClaimTemplates, rolling
updates by revision (RollingUpdate with partition, or OnDelete), and the
revision and replica counters in status."""
import hashlib
import json

from .controllers import CTX
from .errors import ApiError
from .rest import deep


def revision_hash(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _ready(pod):
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


class StatefulSets:
    def __init__(self, mgr):
        self.m = mgr
        self.api = mgr.api

    def sync(self, ns, name):
        m = self.m
        sts = m.get("statefulsets.apps", ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        uid = sts["metadata"]["uid"]
        n = spec.get("replicas", 1)
        start = (spec.get("ordinals") or {}).get("start", 0)
        update_rev = "%s-%s" % (name, revision_hash(spec.get("template")))
        st = sts.get("status") or {}
        current_rev = st.get("currentRevision") or update_rev
        pods = {}
        for key, pns, pname in m.store.dependents(uid):
            if key != "pods":
                continue
            p = m.get("pods", pns, pname)
            if p is None:
                continue
            try:
                ordinal = int(pname.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                continue
            pods[ordinal] = p
        parallel = spec.get("podManagementPolicy") == "Parallel"
        wanted = range(start, start + n)
        self._scale_up(sts, pods, wanted, parallel, update_rev, current_rev)
        self._scale_down(sts, pods, wanted, parallel)
        self._roll(sts, pods, wanted, update_rev)
        self._status(sts, pods, wanted, update_rev, current_rev)

    def _rev(self, pod):
        return (pod["metadata"].get("labels") or {}).get("controller-revision-hash")

    def _scale_up(self, sts, pods, wanted, parallel, update_rev, current_rev):
        for i in wanted:
            p = pods.get(i)
            if p is None:
                if self.api.store.get("pods", sts["metadata"]["namespace"],
                                      "%s-%d" % (sts["metadata"]["name"], i)) is not None:
                    return      # an orphan or terminating pod holds the name
                rev = update_rev
                ru = (sts["spec"].get("updateStrategy") or {})
                if ru.get("type", "RollingUpdate") == "RollingUpdate":
                    part = (ru.get("rollingUpdate") or {}).get("partition", 0)
                    if i < part and current_rev != update_rev:
                        rev = current_rev
                pods[i] = self._create_pod(sts, i, rev, update_rev)
                if not parallel:
                    return
            elif not parallel and (not _ready(p) or p["metadata"].get("deletionTimestamp")):
                return

    def _create_pod(self, sts, i, rev, update_rev):
        m = sts["metadata"]
        spec = sts["spec"]
        name = "%s-%d" % (m["name"], i)
        self._claims(sts, i)
        t = deep(spec.get("template") or {})
        tm = t.get("metadata") or {}
        labels = dict(tm.get("labels") or {})
        labels.update({"controller-revision-hash": rev,
                       "statefulset.kubernetes.io/pod-name": name,
                       "apps.kubernetes.io/pod-index": str(i)})
        ps = t.get("spec") or {}
        ps["hostname"] = name
        ps.setdefault("nodeName", "local-node")   # what the scheduler would bind
        if spec.get("serviceName"):
            ps["subdomain"] = spec["serviceName"]
        vols = ps.setdefault("volumes", [])
        have = {v.get("name") for v in vols}
        for tmpl in spec.get("volumeClaimTemplates") or ():
            tn = tmpl["metadata"]["name"]
            if tn not in have:
                vols.append({"name": tn, "persistentVolumeClaim": {
                    "claimName": "%s-%s-%d" % (tn, m["name"], i)}})
        if not vols:
            ps.pop("volumes")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": m["namespace"], "labels": labels,
            "annotations": tm.get("annotations") or {},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                 "name": m["name"], "uid": m["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]}, "spec": ps}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        return self.api.create(self.m.rt("pods"), "v1", m["namespace"], pod, CTX)

    def _claims(self, sts, i):
        m = sts["metadata"]
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        for tmpl in sts["spec"].get("volumeClaimTemplates") or ():
            tn = tmpl["metadata"]["name"]
            name = "%s-%s-%d" % (tn, m["name"], i)
            if self.m.get("persistentvolumeclaims", m["namespace"], name) is not None:
                continue
            labels = dict((sts["spec"].get("selector") or {}).get("matchLabels") or {})
            labels.update(tmpl["metadata"].get("labels") or {})
            pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": name, "namespace": m["namespace"], "labels": labels},
                   "spec": deep(tmpl.get("spec") or {})}
            if policy.get("whenDeleted") == "Delete":
                pvc["metadata"]["ownerReferences"] = [{
                    "apiVersion": "apps/v1", "kind": "StatefulSet", "name": m["name"],
                    "uid": m["uid"], "controller": True, "blockOwnerDeletion": True}]
            self.api.create(self.m.rt("persistentvolumeclaims"), "v1", m["namespace"], pvc,
                            CTX)

    def _delete_pod(self, p):
        try:
            self.api.delete(self.m.rt("pods"), "v1", p["metadata"]["namespace"],
                            p["metadata"]["name"], {}, CTX)
        except ApiError as e:
            if e.code != 404:
                raise

    def _scale_down(self, sts, pods, wanted, parallel):
        extra = sorted((i for i in pods if i not in wanted), reverse=True)
        if not extra:
            return
        if not parallel and any(not _ready(pods[i]) for i in wanted if i in pods):
            return
        for i in extra:
            self._delete_pod(pods.pop(i))
            self._drop_claims(sts, i)
            if not parallel:
                return

    def _drop_claims(self, sts, i):
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        m = sts["metadata"]
        for tmpl in sts["spec"].get("volumeClaimTemplates") or ():
            name = "%s-%s-%d" % (tmpl["metadata"]["name"], m["name"], i)
            try:
                self.api.delete(self.m.rt("persistentvolumeclaims"), "v1", m["namespace"],
                                name, {}, CTX)
            except ApiError as e:
                if e.code != 404:
                    raise

    def _roll(self, sts, pods, wanted, update_rev):
        us = sts["spec"].get("updateStrategy") or {}
        if us.get("type", "RollingUpdate") != "RollingUpdate":
            return
        if any(i not in pods or not _ready(pods[i]) or
               pods[i]["metadata"].get("deletionTimestamp") for i in wanted):
            return
        part = (us.get("rollingUpdate") or {}).get("partition", 0)
        for i in sorted(wanted, reverse=True):
            if i < part:
                break
            if self._rev(pods[i]) != update_rev:
                self._delete_pod(pods.pop(i))
                return

    def _status(self, sts, pods, wanted, update_rev, current_rev):
        live = [p for i, p in pods.items() if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in live if _ready(p))
        updated = sum(1 for p in live if self._rev(p) == update_rev)
        n = len(list(wanted))
        if updated == n and len(live) == n and ready == n:
            current_rev = update_rev
        current = sum(1 for p in live if self._rev(p) == current_rev)
        st = {"observedGeneration": sts["metadata"].get("generation", 1),
              "replicas": len(live), "readyReplicas": ready, "currentReplicas": current,
              "updatedReplicas": updated, "availableReplicas": ready,
              "currentRevision": current_rev, "updateRevision": update_rev,
              "collisionCount": 0}
        for k in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
            if st[k] == 0:
                del st[k]
        self.m.write_status("statefulsets.apps", sts, st)

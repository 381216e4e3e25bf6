"""Defaulting of built-in types, as the upstream scheme defaulters do.

Only the defaults an operator comparing objects would notice: workload
specs, pod templates, containers, ports and services.  Functions mutate the
(fresh, uncommitted) object passed in.

Quantity fields are stored in their canonical form (quantity.canonical), as
a real API server re-encodes them: cpu "1.5" reads back as "1500m".
"""
from .quantity import canonical


def _d(d, k, v):
    if d.get(k) is None:
        d[k] = v
    return d[k]


def quantities(m):
    """Canonicalises a map of resource name -> quantity in place."""
    if isinstance(m, dict):
        for k, v in m.items():
            m[k] = canonical(v)


def resources(r):
    if isinstance(r, dict):
        quantities(r.get("limits"))
        quantities(r.get("requests"))


def container(c):
    resources(c.get("resources"))
    _d(c, "terminationMessagePath", "/dev/termination-log")
    _d(c, "terminationMessagePolicy", "File")
    img = c.get("image") or ""
    tag = img.rsplit("/", 1)[-1]
    latest = "@" not in img and (":" not in tag or tag.endswith(":latest"))
    _d(c, "imagePullPolicy", "Always" if latest else "IfNotPresent")
    _d(c, "resources", {})
    for p in c.get("ports") or ():
        _d(p, "protocol", "TCP")
    for e in c.get("env") or ():
        fr = (e.get("valueFrom") or {}).get("fieldRef")
        if fr is not None:
            _d(fr, "apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if isinstance(p, dict):
            _d(p, "timeoutSeconds", 1)
            _d(p, "periodSeconds", 10)
            _d(p, "successThreshold", 1)
            _d(p, "failureThreshold", 3)
            hg = p.get("httpGet")
            if isinstance(hg, dict):
                _d(hg, "scheme", "HTTP")
                _d(hg, "path", "/")


def pod_spec(s, restart="Always"):
    _d(s, "restartPolicy", restart)
    _d(s, "terminationGracePeriodSeconds", 30)
    _d(s, "dnsPolicy", "ClusterFirst")
    _d(s, "securityContext", {})
    _d(s, "schedulerName", "default-scheduler")
    if s.get("serviceAccountName") and not s.get("serviceAccount"):
        s["serviceAccount"] = s["serviceAccountName"]
    for c in (s.get("containers") or []) + (s.get("initContainers") or []):
        if isinstance(c, dict):
            container(c)
    for v in s.get("volumes") or ():
        for src in ("secret", "configMap"):
            if isinstance(v.get(src), dict):
                _d(v[src], "defaultMode", 420)
        if isinstance(v.get("persistentVolumeClaim"), dict):
            pass
        if isinstance(v.get("emptyDir"), dict) and "sizeLimit" in v["emptyDir"]:
            v["emptyDir"]["sizeLimit"] = canonical(v["emptyDir"]["sizeLimit"])
    quantities(s.get("overhead"))


def template(t, restart="Always"):
    if isinstance(t, dict):
        _d(t, "metadata", {})
        pod_spec(_d(t, "spec", {}), restart)


def deployment(o):
    s = _d(o, "spec", {})
    _d(s, "replicas", 1)
    _d(s, "revisionHistoryLimit", 10)
    _d(s, "progressDeadlineSeconds", 600)
    st = _d(s, "strategy", {})
    _d(st, "type", "RollingUpdate")
    if st["type"] == "RollingUpdate":
        ru = _d(st, "rollingUpdate", {})
        _d(ru, "maxUnavailable", "25%")
        _d(ru, "maxSurge", "25%")
    template(s.get("template"))


def statefulset(o):
    s = _d(o, "spec", {})
    _d(s, "replicas", 1)
    _d(s, "revisionHistoryLimit", 10)
    _d(s, "podManagementPolicy", "OrderedReady")
    st = _d(s, "updateStrategy", {})
    _d(st, "type", "RollingUpdate")
    if st["type"] == "RollingUpdate":
        _d(_d(st, "rollingUpdate", {}), "partition", 0)
    pr = _d(s, "persistentVolumeClaimRetentionPolicy", {})
    _d(pr, "whenDeleted", "Retain")
    _d(pr, "whenScaled", "Retain")
    for t in s.get("volumeClaimTemplates") or ():
        _d(t, "apiVersion", "v1")
        _d(t, "kind", "PersistentVolumeClaim")
        _d(_d(t, "spec", {}), "volumeMode", "Filesystem")
        resources(t["spec"].get("resources"))
        _d(t, "status", {"phase": "Pending"})
    template(s.get("template"))


def job_spec(s):
    _d(s, "parallelism", 1)
    _d(s, "backoffLimit", 6)
    _d(s, "completionMode", "NonIndexed")
    _d(s, "suspend", False)
    _d(s, "podReplacementPolicy", "TerminatingOrFailed")
    if s.get("completions") is None and s.get("parallelism") == 1:
        s["completions"] = 1
    template(s.get("template"), restart="Never")
    if isinstance(s.get("template"), dict):
        s["template"]["spec"].setdefault("restartPolicy", "Never")


def job(o):
    job_spec(_d(o, "spec", {}))


def cronjob(o):
    s = _d(o, "spec", {})
    _d(s, "concurrencyPolicy", "Allow")
    _d(s, "suspend", False)
    _d(s, "successfulJobsHistoryLimit", 3)
    _d(s, "failedJobsHistoryLimit", 1)
    jt = _d(s, "jobTemplate", {})
    _d(jt, "metadata", {})
    js = _d(jt, "spec", {})
    _d(js, "backoffLimit", 6)
    _d(js, "completionMode", "NonIndexed")
    _d(js, "suspend", False)
    _d(js, "podReplacementPolicy", "TerminatingOrFailed")
    template(js.get("template"), restart="Never")


def service(o):
    s = _d(o, "spec", {})
    _d(s, "type", "ClusterIP")
    _d(s, "sessionAffinity", "None")
    if s["type"] != "ExternalName":
        _d(s, "internalTrafficPolicy", "Cluster")
        _d(s, "ipFamilyPolicy", "SingleStack")
        _d(s, "ipFamilies", ["IPv4"])
    if s["type"] in ("NodePort", "LoadBalancer"):
        _d(s, "externalTrafficPolicy", "Cluster")
    for p in s.get("ports") or ():
        _d(p, "protocol", "TCP")
        _d(p, "targetPort", p.get("port"))


def pod(o):
    pod_spec(_d(o, "spec", {}))
    _d(o["spec"], "enableServiceLinks", True)
    _d(o["spec"], "priority", 0)
    _d(o["spec"], "preemptionPolicy", "PreemptLowerPriority")


def pvc(o):
    s = _d(o, "spec", {})
    _d(s, "volumeMode", "Filesystem")
    resources(s.get("resources"))


def secret(o):
    _d(o, "type", "Opaque")


def hpa(o):
    s = _d(o, "spec", {})
    _d(s, "minReplicas", 1)
    for m in s.get("metrics") or ():
        for src in (m or {}).values():
            t = src.get("target") if isinstance(src, dict) else None
            if isinstance(t, dict):
                for k in ("value", "averageValue"):
                    if k in t:
                        t[k] = canonical(t[k])


_BY_KEY = {
    "deployments.apps": deployment, "statefulsets.apps": statefulset,
    "replicasets.apps": lambda o: template(o.get("spec", {}).get("template")),
    "daemonsets.apps": lambda o: template(o.get("spec", {}).get("template")),
    "jobs.batch": job, "cronjobs.batch": cronjob, "services": service,
    "pods": pod, "persistentvolumeclaims": pvc, "secrets": secret,
    "horizontalpodautoscalers.autoscaling": hpa,
}


def apply_defaults(rt, obj):
    fn = _BY_KEY.get(rt.key)
    if fn:
        fn(obj)

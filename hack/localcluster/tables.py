"""meta.k8s.io/v1 Table rendering for `kubectl get` (including -o wide and
CRD additionalPrinterColumns evaluated with a simple JSONPath)."""
import calendar
import json
import re
import time


def human_duration(secs):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if secs < 0:
        return "<invalid>"
    if secs < 120:
        return "%ds" % secs
    m = secs // 60
    if m < 10:
        s = secs % 60
        return "%dm%ds" % (m, s) if s else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = secs // 3600
    if h < 8:
        mm = m % 60
        return "%dh%dm" % (h, mm) if mm else "%dh" % h
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        hh = h % 24
        return "%dd%dh" % (h // 24, hh) if hh else "%dd" % (h // 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return "%dy%dd" % (h // 24 // 365, dy) if dy else "%dy" % (h // 24 // 365)
    return "%dy" % (h // 24 // 365)


def _age(ts):
    if not ts:
        return "<unknown>"
    try:
        t = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return ts
    return human_duration(int(time.time() - t))


def _jsonpath(obj, path):
    """Evaluates the simple JSONPath forms printer columns use:
    .a.b, .a[0].b, .a[*].b and .a[?(@.type=="Ready")].status."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    toks = re.findall(r'\.([^.\[]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.]+)\s*==\s*["\']([^"\']*)["\']\)\]',
                      path)
    cur = [obj]
    for name, idx, fkey, fval in toks:
        nxt = []
        for c in cur:
            if name:
                if isinstance(c, dict) and name in c:
                    nxt.append(c[name])
            elif idx:
                if isinstance(c, list):
                    nxt.extend(c if idx == "*" else c[int(idx):int(idx) + 1])
            else:
                if isinstance(c, list):
                    for it in c:
                        v = it
                        for p in fkey.split("."):
                            v = v.get(p) if isinstance(v, dict) else None
                        if str(v) == fval:
                            nxt.append(it)
        cur = nxt
    return cur


def _cell(vals, typ):
    if not vals:
        return None
    v = vals[0] if len(vals) == 1 else ",".join(
        json.dumps(x) if isinstance(x, (dict, list)) else str(x) for x in vals)
    if typ in ("integer", "number") and isinstance(v, (int, float)):
        return v
    if typ == "boolean" and isinstance(v, bool):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, bool):
        return "true" if v else "false"
    if typ == "date" and isinstance(v, str):
        return _age(v)
    return str(v) if typ == "string" else v


def _col(name, typ="string", fmt="", prio=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name,
            "priority": prio}


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col("Age", "date", desc="CreationTimestamp is a timestamp representing the server "
           "time when this object was created.")
CREATED = _col("Created At", "date", desc=AGE["description"])


def _ready(o):
    cs = ((o.get("status") or {}).get("containerStatuses") or [])
    n = len((o.get("spec") or {}).get("containers") or [])
    return "%d/%d" % (sum(1 for c in cs if c.get("ready")), n)


def _containers(o, path=("spec", "template", "spec")):
    s = o
    for p in path:
        s = (s or {}).get(p) or {}
    cs = s.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _sel(o):
    sel = (o.get("spec") or {}).get("selector") or {}
    from .selector import selector_string
    return selector_string(sel) if isinstance(sel, dict) else ""


def _st(o, k, d=0):
    return (o.get("status") or {}).get(k, d)


def _sp(o, k, d=None):
    return (o.get("spec") or {}).get(k, d)


def _ts(o):
    return _age(o["metadata"].get("creationTimestamp"))


def _pod_status(o):
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = o.get("status") or {}
    for c in st.get("containerStatuses") or ():
        w = (c.get("state") or {}).get("waiting")
        if w and w.get("reason"):
            return w["reason"]
    return st.get("phase", "Pending")


BUILTIN = {
    "pods": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), AGE,
              _col("IP", prio=1), _col("Node", prio=1)],
             lambda o: [_ready(o), _pod_status(o), "0", _ts(o), _st(o, "podIP", "<none>"),
                        _sp(o, "nodeName", "<none>")]),
    "deployments.apps": ([NAME, _col("Ready"), _col("Up-to-date", "integer"),
                          _col("Available", "integer"), AGE, _col("Containers", prio=1),
                          _col("Images", prio=1), _col("Selector", prio=1)],
                         lambda o: ["%d/%d" % (_st(o, "readyReplicas"), _sp(o, "replicas", 1)),
                                    _st(o, "updatedReplicas"), _st(o, "availableReplicas"),
                                    _ts(o), *_containers(o), _sel(o)]),
    "statefulsets.apps": ([NAME, _col("Ready"), AGE, _col("Containers", prio=1),
                           _col("Images", prio=1)],
                          lambda o: ["%d/%d" % (_st(o, "readyReplicas"), _sp(o, "replicas", 1)),
                                     _ts(o), *_containers(o)]),
    "replicasets.apps": ([NAME, _col("Desired", "integer"), _col("Current", "integer"),
                          _col("Ready", "integer"), AGE],
                         lambda o: [_sp(o, "replicas", 1), _st(o, "replicas"),
                                    _st(o, "readyReplicas"), _ts(o)]),
    "jobs.batch": ([NAME, _col("Status"), _col("Completions"), _col("Duration"), AGE],
                   lambda o: [_job_status(o), "%d/%d" % (_st(o, "succeeded"),
                                                         _sp(o, "completions", 1) or 1),
                              "", _ts(o)]),
    "cronjobs.batch": ([NAME, _col("Schedule"), _col("Timezone"), _col("Suspend", "boolean"),
                        _col("Active", "integer"), _col("Last Schedule", "date"), AGE],
                       lambda o: [_sp(o, "schedule"), _sp(o, "timeZone", "<none>"),
                                  _sp(o, "suspend", False), len(_st(o, "active", []) or []),
                                  _age(_st(o, "lastScheduleTime", None)) if
                                  _st(o, "lastScheduleTime", None) else "<none>", _ts(o)]),
    "services": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                  _col("Port(s)"), AGE, _col("Selector", prio=1)],
                 lambda o: [_sp(o, "type", "ClusterIP"), _sp(o, "clusterIP", ""), "<none>",
                            ",".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
                                     for p in _sp(o, "ports", []) or []) or "<none>",
                            _ts(o), ",".join("%s=%s" % kv for kv in sorted(
                                (_sp(o, "selector") or {}).items())) or "<none>"]),
    "namespaces": ([NAME, _col("Status"), AGE],
                   lambda o: [_st(o, "phase", "Active"), _ts(o)]),
    "configmaps": ([NAME, _col("Data", "integer"), AGE],
                   lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                              _ts(o)]),
    "secrets": ([NAME, _col("Type"), _col("Data", "integer"), AGE],
                lambda o: [o.get("type", "Opaque"), len(o.get("data") or {}), _ts(o)]),
    "persistentvolumeclaims": ([NAME, _col("Status"), _col("Volume"), _col("Capacity"),
                                _col("Access Modes"), _col("StorageClass"), AGE],
                               lambda o: [_st(o, "phase", "Pending"), _sp(o, "volumeName", ""),
                                          (_st(o, "capacity", {}) or {}).get("storage", ""),
                                          ",".join(_sp(o, "accessModes", []) or []),
                                          _sp(o, "storageClassName", "<unset>"), _ts(o)]),
    "events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
                _col("Message")],
               lambda o: [_age(o.get("lastTimestamp") or o.get("eventTime")), o.get("type", ""),
                          o.get("reason", ""), "%s/%s" % (
                              (o.get("involvedObject") or {}).get("kind", "").lower(),
                              (o.get("involvedObject") or {}).get("name", "")),
                          o.get("message", "")]),
    "customresourcedefinitions.apiextensions.k8s.io": (
        [NAME, _col("Created At", "date")], lambda o: [_ts(o)]),
    "leases.coordination.k8s.io": ([NAME, _col("Holder"), AGE],
                                   lambda o: [_sp(o, "holderIdentity", ""), _ts(o)]),
    "poddisruptionbudgets.policy": (
        [NAME, _col("Min Available"), _col("Max Unavailable"),
         _col("Allowed Disruptions", "integer"), AGE],
        lambda o: [str(_sp(o, "minAvailable", "N/A")), str(_sp(o, "maxUnavailable", "N/A")),
                   _st(o, "disruptionsAllowed"), _ts(o)]),
    "serviceaccounts": ([NAME, _col("Secrets", "integer"), AGE],
                        lambda o: [len(o.get("secrets") or []), _ts(o)]),
}


def _job_status(o):
    for c in _st(o, "conditions", []) or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            return c["type"]
    return "Running"


def _crd_columns(rt, version):
    for v in rt.crd["spec"].get("versions") or ():
        if v.get("name") == version:
            return v.get("additionalPrinterColumns")
    return None


def columns_and_cells(rt, version):
    if rt.crd is not None:
        cols = _crd_columns(rt, version)
        if not cols:
            return [NAME, AGE], lambda o: [_ts(o)]
        defs = [NAME] + [_col(c["name"], c.get("type", "string"), c.get("format", ""),
                              c.get("priority", 0), c.get("description", ""))
                         for c in cols]
        return defs, lambda o: [_cell(_jsonpath(o, c["jsonPath"]), c.get("type", "string"))
                                for c in cols]
    spec = BUILTIN.get(rt.key)
    if spec:
        return spec
    return [NAME, CREATED], lambda o: [_ts(o)]


def to_table(rt, version, objs, list_meta=None, include_object="PartialObjectMetadata"):
    defs, cells = columns_and_cells(rt, version)
    rows = []
    for o in objs:
        m = o["metadata"]
        row = {"cells": ([m["name"]] if defs[0] is NAME else []) + cells(o)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata",
                             "apiVersion": "meta.k8s.io/v1", "metadata": m}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": list_meta or {"resourceVersion": ""},
            "columnDefinitions": defs, "rows": rows}

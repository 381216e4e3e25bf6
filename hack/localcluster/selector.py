"""Label selectors (string and LabelSelector forms) and field selectors."""
import re

from .errors import bad_request

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _split_top(s):
    """Splits on commas that are not inside parentheses."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_CMP = re.compile(r"^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)$")


def parse_labels(s):
    """Parses a label selector string into [(key, op, values)]."""
    reqs = []
    for part in _split_top(s or ""):
        m = _SET.match(part)
        if m:
            vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), vals))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!", []))
        else:
            m = _CMP.match(part)
            if m:
                op = {"==": "=", "=": "="}.get(m.group(2), m.group(2))
                reqs.append((m.group(1), op, [m.group(3)]))
            elif re.match(r"^\S+$", part):
                reqs.append((part, "exists", []))
            else:
                raise bad_request("unable to parse requirement: %s" % part)
    for k, _, _ in reqs:
        if not _KEY.match(k):
            raise bad_request('unable to parse requirement: invalid label key "%s"' % k)
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for k, op, vals in reqs:
        have = k in labels
        v = labels.get(k)
        if op == "=" and v != vals[0]:
            return False
        if op == "!=" and have and v == vals[0]:
            return False
        if op == "in" and (not have or v not in vals):
            return False
        if op == "notin" and have and v in vals:
            return False
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
        if op in ("<", ">"):
            try:
                a, b = int(v), int(vals[0])
            except (TypeError, ValueError):
                return False
            if (op == "<" and not a < b) or (op == ">" and not a > b):
                return False
    return True


def from_label_selector(sel):
    """Converts a metav1.LabelSelector to requirements (None = nothing)."""
    if sel is None:
        return None
    reqs = [(k, "=", [v]) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists",
           "DoesNotExist": "!"}
    for e in sel.get("matchExpressions") or ():
        reqs.append((e.get("key"), ops.get(e.get("operator"), "in"),
                     e.get("values") or []))
    return reqs


def selector_string(sel):
    parts = ["%s=%s" % kv for kv in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or ():
        op = e.get("operator")
        if op in ("In", "NotIn"):
            parts.append("%s %s (%s)" % (e["key"], op.lower(),
                                         ",".join(e.get("values") or [])))
        elif op == "Exists":
            parts.append(e["key"])
        else:
            parts.append("!" + e["key"])
    return ",".join(parts)


# Field selectors: every resource supports metadata.name and
# metadata.namespace; a few add their own, as upstream's field label
# conversion functions do.
_EXTRA_FIELDS = {
    "events": ["involvedObject.kind", "involvedObject.namespace",
               "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent",
               "source", "type", "regarding.kind", "regarding.name",
               "regarding.namespace", "regarding.uid", "reportingController"],
    "pods": ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
             "spec.serviceAccountName", "status.phase", "status.podIP",
             "status.nominatedNodeName", "spec.hostNetwork"],
    "secrets": ["type"],
    "namespaces": ["status.phase"],
    "jobs.batch": ["status.successful"],
    "nodes": ["spec.unschedulable"],
    "replicasets.apps": ["status.replicas"],
}


def parse_fields(s, rt):
    reqs = []
    allowed = {"metadata.name", "metadata.namespace"} | set(
        _EXTRA_FIELDS.get(rt.key, ()))
    for part in _split_top(s or ""):
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, part))
        field = m.group(1).strip()
        if field not in allowed:
            raise bad_request('field label not supported: %s' % field)
        reqs.append((field, m.group(2) != "!=", m.group(3).strip()))
    return reqs


def _field_value(obj, field):
    if field == "source":
        return (obj.get("source") or {}).get("component", "")
    cur = obj
    for p in field.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_fields(reqs, obj):
    for field, eq, val in reqs:
        if (_field_value(obj, field) == val) != eq:
            return False
    return True

"""Validation of built-in objects, for the rules operators trip over.

Each check returns causes as (reason, field, message) tuples; the caller
turns them into one 422 Invalid Status, as upstream's field.ErrorList.
Messages copy upstream's wording, including Go-style value rendering where
it is cheap ("map[string]string{...}").
"""
import json
import re

from . import selector as selectors

SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_PART_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric "
                 "character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
             "characters or '-', and must start and end with an alphanumeric character "
             "(e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or "
               "'-', start with an alphabetic character, and end with an alphanumeric "
               "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
               "'[a-z]([-a-z0-9]*[a-z0-9])?')")
VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
             "characters, '-', '_' or '.', and must start and end with an alphanumeric "
             "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
             "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'MyName',"
                 "  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def gostr(v):
    return json.dumps(v)


def gomap(m):
    if m is None:
        return "map[string]string(nil)"
    return "map[string]string{%s}" % ", ".join(
        "%s:%s" % (json.dumps(k), json.dumps(v)) for k, v in sorted(m.items()))


def goselector(s):
    exprs = s.get("matchExpressions")
    ex = "[]v1.LabelSelectorRequirement(nil)" if not exprs else \
        "[]v1.LabelSelectorRequirement{%s}" % ", ".join(
            'v1.LabelSelectorRequirement{Key:%s, Operator:"%s", Values:[]string{%s}}'
            % (json.dumps(e.get("key")), e.get("operator"),
               ", ".join(json.dumps(v) for v in e.get("values") or []))
            for e in exprs)
    return "v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}" % (
        gomap(s.get("matchLabels")), ex)


def name_causes(name, rule, field="metadata.name"):
    if rule == "path":
        for bad in ("/", "%"):
            if bad in name:
                return [("FieldValueInvalid", field,
                         "Invalid value: %s: may not contain '%s'" % (gostr(name), bad))]
        if name in (".", ".."):
            return [("FieldValueInvalid", field, "Invalid value: %s: may not be '%s'"
                     % (gostr(name), name))]
        return []
    regex, msg, limit = {
        "subdomain": (SUBDOMAIN_RE, SUBDOMAIN_MSG, 253),
        "label": (LABEL_RE, LABEL_MSG, 63),
        "dns1035": (DNS1035_RE, DNS1035_MSG, 63)}[rule]
    out = []
    if len(name) > limit:
        out.append(("FieldValueInvalid", field, "Invalid value: %s: must be no more "
                    "than %d characters" % (gostr(name), limit)))
    if not regex.match(name):
        out.append(("FieldValueInvalid", field, "Invalid value: %s: %s"
                    % (gostr(name), msg)))
    return out


def _qualified_name(key, field):
    prefix, _, name = key.rpartition("/")
    out = []
    if prefix and (len(prefix) > 253 or not SUBDOMAIN_RE.match(prefix)):
        out.append(("FieldValueInvalid", field, "Invalid value: %s: prefix part %s"
                    % (gostr(key), SUBDOMAIN_MSG)))
    if len(name) > 63:
        out.append(("FieldValueInvalid", field, "Invalid value: %s: name part must be "
                    "no more than 63 characters" % gostr(key)))
    if not NAME_PART_RE.match(name):
        out.append(("FieldValueInvalid", field, "Invalid value: %s: %s"
                    % (gostr(key), NAME_PART_MSG)))
    return out


def label_causes(labels, field):
    out = []
    for k, v in (labels or {}).items():
        out += _qualified_name(k, field)
        if not isinstance(v, str):
            continue
        if len(v) > 63:
            out.append(("FieldValueInvalid", field, "Invalid value: %s: must be no "
                        "more than 63 characters" % gostr(v)))
        if not VALUE_RE.match(v):
            out.append(("FieldValueInvalid", field, "Invalid value: %s: %s"
                        % (gostr(v), VALUE_MSG)))
    return out


def meta_causes(rt, obj):
    m = obj.get("metadata") or {}
    out = []
    if not m.get("name"):
        out.append(("FieldValueRequired", "metadata.name",
                    "Required value: name or generateName is required"))
    else:
        out += name_causes(m["name"], rt.name_rule)
    out += label_causes(m.get("labels"), "metadata.labels")
    for k in (m.get("annotations") or {}):
        out += _qualified_name(k, "metadata.annotations")
    return out


def _requests_within_limits(res, f):
    """Upstream's ValidateResourceRequirements (pkg/apis/core/validation):
    a request above its limit is refused, naming the limit."""
    from .quantity import parse
    if not isinstance(res, dict):
        return []
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    out = []
    for name, q in req.items() if isinstance(req, dict) and isinstance(lim, dict) else ():
        if name not in lim:
            continue
        try:
            over = parse(q) > parse(lim[name])
        except (ValueError, ZeroDivisionError):
            continue
        if over:
            out.append(("FieldValueInvalid", f + ".requests",
                        "Invalid value: %s: must be less than or equal to %s limit of %s"
                        % (gostr(q), name, lim[name])))
    return out


def _pod_spec(spec, f):
    out = []
    if not isinstance(spec, dict):
        return [("FieldValueRequired", f, "Required value")]
    cs = spec.get("containers")
    if not cs:
        out.append(("FieldValueRequired", f + ".containers", "Required value"))
    seen = set()
    for kind in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(kind) or []):
            cf = "%s.%s[%d]" % (f, kind, i)
            if not c.get("name"):
                out.append(("FieldValueRequired", cf + ".name", "Required value"))
            else:
                out += name_causes(c["name"], "label", cf + ".name")
                if c["name"] in seen:
                    out.append(("FieldValueDuplicate", cf + ".name",
                                "Duplicate value: %s" % gostr(c["name"])))
                seen.add(c["name"])
            if not c.get("image"):
                out.append(("FieldValueRequired", cf + ".image", "Required value"))
            out += _requests_within_limits(c.get("resources"), cf + ".resources")
            for j, p in enumerate(c.get("ports") or []):
                cp = p.get("containerPort")
                if not isinstance(cp, int) or not 0 < cp < 65536:
                    out.append(("FieldValueInvalid", "%s.ports[%d].containerPort" % (cf, j),
                                "Invalid value: %s: must be between 1 and 65535, "
                                "inclusive" % json.dumps(cp)))
    return out


def _template(spec, sel_required=True, selector_field="spec.selector"):
    out = []
    sel = spec.get("selector")
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels")
    if sel is None:
        if sel_required:
            out.append(("FieldValueRequired", selector_field, "Required value"))
    elif not sel.get("matchLabels") and not sel.get("matchExpressions"):
        out.append(("FieldValueInvalid", selector_field, "Invalid value: %s: empty "
                    "selector is invalid for deployment" % goselector(sel)))
    elif not selectors.match_labels(selectors.from_label_selector(sel), labels):
        out.append(("FieldValueInvalid", "spec.template.metadata.labels",
                    "Invalid value: %s: `selector` does not match template `labels`"
                    % gomap(labels)))
    out += label_causes(labels, "spec.template.metadata.labels")
    out += _pod_spec(tmpl.get("spec"), "spec.template.spec")
    r = spec.get("replicas")
    if isinstance(r, int) and r < 0:
        out.append(("FieldValueInvalid", "spec.replicas", "Invalid value: %d: must be "
                    "greater than or equal to 0" % r))
    return out


def _immutable(field, value, rendered=None):
    return [("FieldValueInvalid", field, "Invalid value: %s: field is immutable"
             % (rendered or json.dumps(value, separators=(",", ":"))))]


def deployment(o, old):
    s = o.get("spec") or {}
    out = _template(s)
    if old is not None and s.get("selector") != old["spec"].get("selector"):
        out += _immutable("spec.selector", None, goselector(s.get("selector") or {}))
    return out


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def statefulset(o, old):
    s = o.get("spec") or {}
    out = _template(s)
    pmp = s.get("podManagementPolicy")
    if pmp not in (None, "OrderedReady", "Parallel"):
        out.append(("FieldValueNotSupported", "spec.podManagementPolicy",
                    'Unsupported value: %s: supported values: "OrderedReady", '
                    '"Parallel"' % gostr(pmp)))
    if old is not None:
        strip = lambda sp: {k: v for k, v in sp.items() if k not in _STS_MUTABLE}
        if strip(s) != strip(old.get("spec") or {}):
            out.append(("FieldValueForbidden", "spec", "Forbidden: updates to "
                        "statefulset spec for fields other than 'replicas', 'ordinals', "
                        "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                        "and 'minReadySeconds' are forbidden"))
    return out


def job(o, old):
    s = o.get("spec") or {}
    out = _template(s, sel_required=False)
    if old is not None:
        if s.get("template") != old["spec"].get("template"):
            out += _immutable("spec.template", s.get("template"))
        if s.get("selector") != old["spec"].get("selector"):
            out += _immutable("spec.selector", None, goselector(s.get("selector") or {}))
        for f in ("completions", "completionMode"):
            if f == "completionMode" and s.get(f) != old["spec"].get(f):
                out += _immutable("spec." + f, s.get(f))
    return out


def cronjob(o, old):
    s = o.get("spec") or {}
    out = []
    if not s.get("schedule"):
        out.append(("FieldValueRequired", "spec.schedule", "Required value"))
    jt = (s.get("jobTemplate") or {}).get("spec") or {}
    out += [(t, f.replace("spec.", "spec.jobTemplate.spec.", 1), m)
            for (t, f, m) in _template(jt, sel_required=False)]
    name = (o.get("metadata") or {}).get("name") or ""
    if len(name) > 52:
        out.append(("FieldValueInvalid", "metadata.name", "Invalid value: %s: must be "
                    "no more than 52 characters" % gostr(name)))
    return out


def service(o, old):
    s = o.get("spec") or {}
    out = []
    if s.get("type", "ClusterIP") != "ExternalName" and not s.get("ports") \
            and s.get("clusterIP") != "None":
        out.append(("FieldValueRequired", "spec.ports", "Required value"))
    names = set()
    for i, p in enumerate(s.get("ports") or []):
        port = p.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            out.append(("FieldValueInvalid", "spec.ports[%d].port" % i, "Invalid value: "
                        "%s: must be between 1 and 65535, inclusive" % json.dumps(port)))
        if len(s.get("ports")) > 1 and not p.get("name"):
            out.append(("FieldValueRequired", "spec.ports[%d].name" % i, "Required value"))
        if p.get("name") in names:
            out.append(("FieldValueDuplicate", "spec.ports[%d].name" % i,
                        "Duplicate value: %s" % gostr(p.get("name"))))
        names.add(p.get("name"))
    if old is not None and old["spec"].get("clusterIP") and \
            s.get("clusterIP") != old["spec"].get("clusterIP"):
        out += _immutable("spec.clusterIPs[0]", s.get("clusterIP"), gostr(s.get("clusterIP")))
    return out


def _storage_bytes(q):
    from .quantity import parse
    return parse(q)


def pvc(o, old):
    s = o.get("spec") or {}
    out = []
    if not s.get("accessModes"):
        out.append(("FieldValueRequired", "spec.accessModes", "Required value: at least "
                    "1 access mode is required"))
    req = ((s.get("resources") or {}).get("requests") or {}).get("storage")
    if req is None:
        out.append(("FieldValueRequired", "spec.resources[storage]", "Required value"))
    if old is not None:
        os_ = old.get("spec") or {}
        strip = lambda sp: {k: v for k, v in sp.items()
                            if k not in ("resources", "volumeAttributesClassName",
                                         "volumeName")}
        if strip(s) != strip(os_):
            out.append(("FieldValueForbidden", "spec", "Forbidden: spec is immutable after "
                        "creation except resources.requests and volumeAttributesClassName "
                        "for bound claims"))
        oreq = ((os_.get("resources") or {}).get("requests") or {}).get("storage")
        if req is not None and oreq is not None and \
                _storage_bytes(req) < _storage_bytes(oreq):
            out.append(("FieldValueForbidden", "spec.resources.requests.storage",
                        "Forbidden: field can not be less than previous value"))
    return out


def _immutable_data(o, old):
    if old is not None and old.get("immutable"):
        for f in ("data", "binaryData", "stringData"):
            if o.get(f) != old.get(f):
                return [("FieldValueForbidden", f, "Forbidden: field is immutable when "
                         "`immutable` is set")]
        if not o.get("immutable"):
            return [("FieldValueForbidden", "immutable", "Forbidden: field is immutable "
                     "when `immutable` is set")]
    return []


def secret(o, old):
    out = _immutable_data(o, old)
    if old is not None and o.get("type") != old.get("type"):
        out += _immutable("type", o.get("type"), gostr(o.get("type")))
    return out


def pdb(o, old):
    s = o.get("spec") or {}
    if "minAvailable" in s and "maxUnavailable" in s:
        return [("FieldValueInvalid", "spec", "Invalid value: ...: minAvailable and "
                 "maxUnavailable cannot be both set")]
    return []


def crd(o, old):
    s = o.get("spec") or {}
    n = s.get("names") or {}
    out = []
    want = "%s.%s" % (n.get("plural"), s.get("group"))
    if o["metadata"].get("name") != want:
        out.append(("FieldValueInvalid", "metadata.name", 'Invalid value: %s: must be '
                    'spec.names.plural+"."+spec.group' % gostr(o["metadata"].get("name"))))
    if not n.get("kind"):
        out.append(("FieldValueRequired", "spec.names.kind", "Required value"))
    vs = s.get("versions") or []
    if not vs:
        out.append(("FieldValueRequired", "spec.versions", "Required value"))
    elif sum(1 for v in vs if v.get("storage")) != 1:
        out.append(("FieldValueInvalid", "spec.versions", "Invalid value: %s: must have "
                    "exactly one version marked as storage version" % json.dumps(
                        [v.get("name") for v in vs])))
    if s.get("scope") not in ("Namespaced", "Cluster"):
        out.append(("FieldValueNotSupported", "spec.scope", 'Unsupported value: %s: '
                    'supported values: "Cluster", "Namespaced"' % gostr(s.get("scope"))))
    if old is not None and s.get("group") != old["spec"].get("group"):
        out += _immutable("spec.group", s.get("group"), gostr(s.get("group")))
    return out


_BY_KEY = {
    "deployments.apps": deployment, "statefulsets.apps": statefulset,
    "jobs.batch": job, "cronjobs.batch": cronjob, "services": service,
    "persistentvolumeclaims": pvc, "secrets": secret,
    "configmaps": _immutable_data, "poddisruptionbudgets.policy": pdb,
    "customresourcedefinitions.apiextensions.k8s.io": crd,
    "replicasets.apps": deployment, "daemonsets.apps": deployment,
}


def validate(rt, obj, old):
    out = meta_causes(rt, obj)
    fn = _BY_KEY.get(rt.key)
    if fn:
        out += fn(obj, old)
    if rt.key == "pods":
        out += _pod_spec(obj.get("spec"), "spec")
    return out

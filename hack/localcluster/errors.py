"""Kubernetes Status objects and the one exception type handlers raise.

Every failure a client can see is built here, so the reasons, codes and
message shapes stay identical to what kube-apiserver sends.
"""

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict",
    410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error answered to the client as a metav1.Status."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self):
        return status_obj(self.code, self.message, self.reason, self.details)


def status_obj(code, message, reason, details=None, status="Failure"):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
          "status": status, "message": message, "reason": reason,
          "code": code}
    if details:
        st["details"] = details
    if status == "Success":
        st.pop("reason")
        st.pop("message")
    return st


def qualified(rt):
    """'deployments.apps' style resource name used in messages."""
    return rt.plural + ("." + rt.group if rt.group else "")


def not_found(rt, name):
    return ApiError(404, '%s "%s" not found' % (qualified(rt), name),
                    details={"name": name, "group": rt.group,
                             "kind": rt.plural})


def already_exists(rt, name):
    return ApiError(409, '%s "%s" already exists' % (qualified(rt), name),
                    "AlreadyExists",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt, name, why):
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s'
                    % (qualified(rt), name, why), "Conflict",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def stale(rt, name):
    return conflict(rt, name, "the object has been modified; please apply "
                    "your changes to the latest version and try again")


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def invalid(rt, name, causes):
    """422 Invalid.  causes: list of (type, field, message-tail) tuples.

    The Status message joins "field: detail" strings exactly as upstream's
    field.ErrorList does ("[a, b]" when there are several).
    """
    kind = rt.kind + ("." + rt.group if rt.group else "")
    texts = [("%s: %s" % (f, m)) if f else m for (_t, f, m) in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422, '%s "%s" is invalid: %s' % (kind, name, joined), "Invalid",
        {"name": name, "group": rt.group, "kind": rt.kind,
         "causes": [{"reason": t, "message": m, "field": f}
                    for (t, f, m) in causes]})


def forbidden(user, verb, rt_plural, group, ns, name=None, sub=None,
              reason=""):
    res = rt_plural + ("/" + sub if sub else "")
    what = 'User "%s" cannot %s resource "%s" in API group "%s"' % (
        user, verb, res, group)
    if ns:
        what += ' in the namespace "%s"' % ns
    else:
        what += " at the cluster scope"
    target = '%s "%s"' % (rt_plural + ("." + group if group else ""), name) \
        if name else rt_plural + ("." + group if group else "")
    msg = "%s is forbidden: %s" % (target, what)
    if reason:
        msg += ": " + reason
    d = {"group": group, "kind": rt_plural}
    if name:
        d["name"] = name
    return ApiError(403, msg, "Forbidden", d)

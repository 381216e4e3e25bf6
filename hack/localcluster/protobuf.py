"""Decodes Kubernetes protobuf request bodies into JSON objects.

kubectl's typed clients (create deployment/configmap/secret/token, auth
can-i, ...) and helm's release storage send built-in objects as
application/vnd.kubernetes.protobuf.  Rather than carrying a copy of the
upstream .proto files, the message layouts are read at run time from the
protobuf file descriptors that every Go Kubernetes client binary embeds
(gzipped FileDescriptorProtos), taken from the kubectl this repository
installs.  Responses are always JSON, which these clients accept.
"""
import base64
import datetime
import json
import os
import shutil
import struct
import threading
import zlib

from .errors import ApiError

MAGIC = b"k8s\x00"
_lock = threading.Lock()
_table = None

_GROUP_PKG = {"": "core", "apps": "apps", "batch": "batch",
              "rbac.authorization.k8s.io": "rbac", "policy": "policy",
              "autoscaling": "autoscaling", "coordination.k8s.io": "coordination",
              "authentication.k8s.io": "authentication",
              "authorization.k8s.io": "authorization", "networking.k8s.io": "networking",
              "storage.k8s.io": "storage", "events.k8s.io": "events",
              "discovery.k8s.io": "discovery", "scheduling.k8s.io": "scheduling",
              "certificates.k8s.io": "certificates"}
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
# Pointer fields whose zero value is meaningful (the wire cannot tell).
_KEEP_ZERO = {"replicas", "minReplicas", "parallelism", "completions", "backoffLimit",
              "partition", "expirationSeconds", "priority",
              "gracePeriodSeconds", "terminationGracePeriodSeconds", "maxSkew",
              "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "revisionHistoryLimit"}


def _varint(b, i):
    shift = res = 0
    while True:
        c = b[i]
        i += 1
        res |= (c & 0x7F) << shift
        if c < 0x80:
            return res, i
        shift += 7


def _fields(b):
    """Yields (number, wiretype, value) for one message's bytes."""
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, v


def _parse_descriptor(raw, table):
    pkg, msgs = "", []
    for num, _, v in _fields(raw):
        if num == 2:
            pkg = v.decode()
        elif num == 4:
            msgs.append(v)
    for m in msgs:
        _parse_message(m, pkg, table)


def _parse_message(raw, prefix, table):
    name, fields, nested, entry = "", {}, [], False
    for num, _, v in _fields(raw):
        if num == 1:
            name = v.decode()
        elif num == 2:
            f = {}
            for fn, _, fv in _fields(v):
                f[fn] = fv
            tn = f.get(6, b"").decode().lstrip(".")
            fields[f[3]] = (f[1].decode(), f.get(5, 9), f.get(4, 1) == 3, tn)
        elif num == 3:
            nested.append(v)
        elif num == 7:
            for on, _, ov in _fields(v):
                if on == 7 and ov:
                    entry = True
    full = prefix + "." + name
    table[full] = {"fields": fields, "entry": entry}
    for n in nested:
        _parse_message(n, full, table)


def _binary():
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.environ.get("LOCALCLUSTER_PROTO_SOURCE"),
              os.path.join(here, "..", "..", ".tools", "bin", "kubectl"),
              shutil.which("kubectl"), shutil.which("helm")):
        if p and os.path.exists(p):
            return os.path.realpath(p)
    return None


def load(cache_dir=None):
    """Builds (or reads from cache) the message table; returns it or None."""
    global _table
    with _lock:
        if _table is not None:
            return _table
        src = _binary()
        if src is None:
            return None
        st = os.stat(src)
        tag = "%s:%d:%d" % (src, st.st_size, int(st.st_mtime))
        cache = os.path.join(cache_dir, "proto-descriptors.json") if cache_dir else None
        if cache and os.path.exists(cache):
            try:
                with open(cache) as f:
                    doc = json.load(f)
                if doc.get("source") == tag:
                    _table = {k: {"entry": v["entry"], "fields": {int(n): tuple(x) for n, x
                                                                  in v["fields"].items()}}
                              for k, v in doc["messages"].items()}
                    return _table
            except (OSError, ValueError, KeyError):
                pass
        table = {}
        with open(src, "rb") as f:
            data = f.read()
        i = 0
        while True:
            i = data.find(b"\x1f\x8b\x08\x00\x00", i)
            if i < 0:
                break
            try:
                out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i:i + 1 << 20])
                if out[:1] == b"\n" and b"generated.proto" in out[:120] and \
                        (b"k8s.io/api/" in out[:120] or b"k8s.io/apimachinery" in out[:120]):
                    _parse_descriptor(out, table)
            except (zlib.error, ValueError, IndexError, KeyError, UnicodeDecodeError):
                pass
            i += 5
        _table = table
        if cache:
            try:
                with open(cache, "w") as f:
                    json.dump({"source": tag, "messages": table}, f)
            except OSError:
                pass
        return table


def _time(b):
    secs = nanos = 0
    for num, _, v in _fields(b):
        if num == 1:
            secs = v
        elif num == 2:
            nanos = v
    if secs == 0 and nanos == 0:
        return None
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _special(tn, b):
    if tn in (_META + "Time", _META + "MicroTime"):
        return True, _time(b)
    if tn == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        for num, _, v in _fields(b):
            if num == 1:
                return True, v.decode()
        return True, "0"
    if tn == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        typ, iv, sv = 0, 0, ""
        for num, _, v in _fields(b):
            if num == 1:
                typ = v
            elif num == 2:
                iv = v if v < 1 << 31 else v - (1 << 64)
            elif num == 3:
                sv = v.decode()
        return True, (sv if typ == 1 else iv)
    if tn in ("k8s.io.apimachinery.pkg.runtime.RawExtension", _META + "FieldsV1"):
        for num, _, v in _fields(b):
            if num == 1:
                try:
                    return True, json.loads(v)
                except ValueError:
                    return True, None
        return True, None
    if tn == _META + "Duration":
        for num, _, v in _fields(b):
            if num == 1:
                return True, "%ds" % (v // 10**9)
    return False, None


def _scalar(typ, wt, v):
    if typ == 9:
        return v.decode()
    if typ == 12:
        return base64.b64encode(v).decode()
    if typ == 8:
        return bool(v)
    if typ in (3, 5, 14):
        return v - (1 << 64) if v >= 1 << 63 else v
    if typ in (4, 13):
        return v
    if typ == 1:
        return struct.unpack("<d", v)[0]
    if typ == 2:
        return struct.unpack("<f", v)[0]
    if typ in (17, 18):
        return (v >> 1) ^ -(v & 1)
    return v


def decode_message(table, tn, b):
    ok, val = _special(tn, b)
    if ok:
        return val
    desc = table.get(tn)
    if desc is None:
        raise ValueError("unknown protobuf message %s" % tn)
    out = {}
    for num, wt, v in _fields(b):
        fd = desc["fields"].get(num)
        if fd is None:
            continue
        name, typ, rep, ftn = fd
        if typ == 11:
            sub = table.get(ftn)
            if sub is not None and sub["entry"]:
                e = decode_message(table, ftn, v)
                out.setdefault(name, {})[e.get("key", "")] = e.get("value", _zero(sub, table))
                continue
            val = decode_message(table, ftn, v)
        elif wt == 2 and typ not in (9, 12):
            vals, i = [], 0
            while i < len(v):
                x, i = _varint(v, i)
                vals.append(_scalar(typ, 0, x))
            out.setdefault(name, []).extend(vals)
            continue
        else:
            val = _scalar(typ, wt, v)
        if rep:
            out.setdefault(name, []).append(val)
        else:
            out[name] = val
    return _omit_empty(out)


def _zero(sub, table):
    vf = [f for f in sub["fields"].values() if f[0] == "value"]
    return "" if vf and vf[0][1] in (9, 12) else None


def _omit_empty(d):
    """Drops zero values, as Go's JSON encoding with omitempty would."""
    for k in list(d):
        v = d[k]
        if v is None or v is False or (isinstance(v, (str, dict, list)) and not v):
            del d[k]
        elif isinstance(v, int) and not isinstance(v, bool) and v == 0 and \
                k not in _KEEP_ZERO:
            del d[k]
    return d


def decode(raw, cache_dir=None):
    """Decodes an envelope-framed Kubernetes protobuf object to a dict."""
    if not raw.startswith(MAGIC):
        raise ApiError(415, "protobuf body without the k8s envelope", "UnsupportedMediaType")
    table = load(cache_dir)
    if table is None:
        raise ApiError(415, "the body of the request was in an unknown format - accepted "
                       "media types include: application/json, application/yaml",
                       "UnsupportedMediaType")
    api_version = kind = ""
    payload = b""
    for num, _, v in _fields(raw[4:]):
        if num == 1:
            for tn, _, tv in _fields(v):
                if tn == 1:
                    api_version = tv.decode()
                elif tn == 2:
                    kind = tv.decode()
        elif num == 2:
            payload = v
    group, _, version = api_version.rpartition("/")
    cands = []
    if group in _GROUP_PKG:
        cands.append("k8s.io.api.%s.%s.%s" % (_GROUP_PKG[group], version, kind))
    cands.append(_META + kind)
    for tn in cands:
        if tn in table:
            try:
                obj = decode_message(table, tn, payload)
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                raise ApiError(400, "error decoding protobuf body: %s" % e, "BadRequest")
            obj["apiVersion"], obj["kind"] = api_version, kind
            return obj
    raise ApiError(415, "no protobuf schema for %s %s" % (api_version, kind),
                   "UnsupportedMediaType")

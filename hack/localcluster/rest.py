"""The generic REST storage: get/list/create/update/patch/delete with the
API machinery semantics (resourceVersion, uid, generation, managedFields,
status subresource, finalizers, dry run), shared by every resource type.

Type-specific behaviour lives in strategies.py; CRD schemas in schema.py.
"""
import base64
import copy
import json
import random
import time
import uuid

from . import apply as ssa
from . import defaults, patch, schema, strategies, validation
from .errors import (ApiError, already_exists, bad_request, invalid,
                     not_found, stale, status_obj)

_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def deep(o):
    """Fast deep copy of a JSON document."""
    return json.loads(json.dumps(o))


class Ctx:
    """Who is asking and how: built by the server for each request."""

    def __init__(self, user="system:admin", groups=("system:masters",),
                 manager=None, user_agent="", dry_run=False, field_validation="",
                 force=False, extra=None):
        self.user, self.groups = user, list(groups)
        self.manager = manager or (user_agent.split("/")[0] if user_agent else
                                   "unknown")
        self.user_agent = user_agent
        self.dry_run, self.field_validation, self.force = dry_run, field_validation, force
        self.extra = extra or {}
        self.warnings = []


class Api:
    def __init__(self, store, registry, opts=None):
        self.store, self.registry = store, registry
        self.opts = opts or {}
        self.strategies = strategies.Strategies(self)

    # --- conversion between the stored form and a served version -------
    def storage_version(self, rt):
        if rt.crd is not None:
            for v in rt.crd["spec"]["versions"]:
                if v.get("storage"):
                    return v["name"]
        return rt.versions[0]

    def out(self, rt, version, obj):
        """The stored obj as the client asked for it (shares when possible)."""
        if rt.group == "events.k8s.io":
            return strategies.event_to_v1(obj)
        want = rt.api_version(version)
        if obj.get("apiVersion") == want:
            return obj
        o = dict(obj)
        o["apiVersion"] = want
        return o

    def inp(self, rt, version, obj):
        if rt.group == "events.k8s.io":
            return strategies.event_from_v1(obj)
        obj["apiVersion"] = rt.api_version(self.storage_version(rt))
        return obj

    # --- reads ---------------------------------------------------------
    def get(self, rt, version, ns, name):
        obj = self.store.get(rt.key, ns, name)
        if obj is None:
            raise not_found(rt, name)
        return self.out(rt, version, obj)

    def list(self, rt, version, ns, label_sel=None, field_sel=None, limit=0,
             cont=None, match_labels=None, match_fields=None):
        objs, rv = self.store.list(rt.key, ns)
        start = None
        if cont:
            try:
                tok = json.loads(base64.b64decode(cont + "==="))
                start, rv = tok["start"], tok["rv"]
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: illegal base64 data")
        items = []
        more = 0
        last = None
        for o in objs:
            m = o["metadata"]
            key = "%s/%s" % (m.get("namespace", ""), m["name"])
            if start is not None and key < start:
                continue
            if match_labels and not match_labels(m.get("labels")):
                continue
            if match_fields and not match_fields(o):
                continue
            if limit and len(items) >= limit:
                more += 1
                continue
            items.append(self.out(rt, version, o))
            last = key
        meta = {"resourceVersion": str(rv)}
        if more and last is not None:
            tok = {"v": "meta.k8s.io/v1", "rv": rv, "start": last + "\x00"}
            meta["continue"] = base64.b64encode(json.dumps(tok).encode()).decode().rstrip("=")
            meta["remainingItemCount"] = more
        return {"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                "metadata": meta, "items": items}

    # --- the write pipeline --------------------------------------------
    def _namespace_ok(self, rt, ns, name):
        if not rt.namespaced:
            return
        nsobj = self.store.get("namespaces", "", ns)
        if nsobj is None:
            raise ApiError(404, 'namespaces "%s" not found' % ns, "NotFound",
                           {"name": ns, "kind": "namespaces"})
        if nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, '%s "%s" is forbidden: unable to create new content in '
                           'namespace %s because it is being terminated'
                           % (rt.plural + ("." + rt.group if rt.group else ""), name, ns),
                           "Forbidden", {"name": name, "group": rt.group,
                                         "kind": rt.plural,
                                         "causes": [{"reason": "NamespaceTerminating",
                                                     "message": "namespace %s is being "
                                                     "terminated" % ns,
                                                     "field": "metadata.namespace"}]})

    def _decode(self, rt, version, ns, body, name=None):
        if not isinstance(body, dict):
            raise bad_request("the object provided is not a JSON object")
        obj = deep(body)
        want = rt.api_version(version)
        if obj.get("kind") not in (None, rt.kind) or \
                obj.get("apiVersion") not in (None, want):
            raise bad_request("the API version in the data (%s) does not match the "
                              "expected API version (%s)" % (obj.get("apiVersion"), want)
                              if obj.get("apiVersion") != want else
                              "Object kind %s does not match %s" % (obj.get("kind"), rt.kind))
        obj["kind"], obj["apiVersion"] = rt.kind, want
        m = obj.get("metadata")
        if not isinstance(m, dict):
            m = obj["metadata"] = {}
        if rt.namespaced:
            if m.get("namespace") and m["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match "
                                  "the namespace sent on the request")
            m["namespace"] = ns
        else:
            m.pop("namespace", None)
        if name is not None and m.get("name") not in (None, name):
            raise bad_request("the name of the object (%s) does not match the name on "
                              "the URL (%s)" % (m.get("name"), name))
        if name is not None:
            m["name"] = name
        return self.inp(rt, version, obj)

    def _prepare(self, rt, version, obj, old, ctx):
        """Defaulting, schema processing and validation of a candidate."""
        if rt.crd is not None:
            causes, pruned = schema.process(rt.crd, self.storage_version(rt), obj)
            if pruned:
                self._unknown_fields(ctx, pruned)
        else:
            defaults.apply_defaults(rt, obj)
            causes = []
        self.strategies.prepare(rt, obj, old)
        causes = validation.validate(rt, obj, old) + causes
        causes += self.strategies.validate(rt, obj, old)
        if causes:
            raise invalid(rt, obj["metadata"].get("name", ""), causes)

    def _unknown_fields(self, ctx, pruned):
        msgs = ['unknown field "%s"' % p for p in pruned]
        if ctx.field_validation == "Strict":
            raise bad_request("strict decoding error: " + ", ".join(msgs))
        if ctx.field_validation in ("Warn", ""):
            ctx.warnings.extend(msgs)

    def create(self, rt, version, ns, body, ctx):
        obj = self._decode(rt, version, ns, body)
        m = obj["metadata"]
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + "".join(
                random.choice(_GEN_CHARS) for _ in range(5))
        if m.get("name"):
            causes = validation.name_causes(m["name"], rt.name_rule)
            if causes:
                raise invalid(rt, m["name"], causes)
        with self.store.lock:
            self._namespace_ok(rt, ns, m.get("name", ""))
            if m.get("name") and self.store.get(rt.key, ns, m["name"]) is not None:
                raise already_exists(rt, m["name"])
            for k in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "selfLink"):
                m.pop(k, None)
            if "status" in rt.subresources:
                self.strategies.reset_status(rt, obj)
            m["uid"] = str(uuid.uuid4())
            m["creationTimestamp"] = now()
            self._prepare(rt, version, obj, None, ctx)
            if rt.generation or rt.crd is not None:
                m["generation"] = 1
            m.pop("managedFields", None)
            ssa.track_update(rt, None, obj, ctx.manager, obj["apiVersion"], "", now(),
                             "status" in rt.subresources, version)
            return self._commit(rt, version, obj, None, "ADDED", ctx)

    def _commit(self, rt, version, obj, old, etype, ctx):
        if ctx.dry_run:
            obj["metadata"].setdefault("resourceVersion",
                                       (old or {}).get("metadata", {}).get("resourceVersion", ""))
            return self.out(rt, version, obj)
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit(rt.key, obj, etype, old)
        self.strategies.after_write(rt, obj, old, etype)
        return self.out(rt, version, obj)

    def _finish_update(self, rt, version, obj, old, ctx, sub, apply_mode=False):
        """Common tail of update and patch: obj is a fresh candidate."""
        m, om = obj["metadata"], old["metadata"]
        rv = m.get("resourceVersion")
        if rv and rv != om["resourceVersion"]:
            raise stale(rt, om["name"])
        for k in ("uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation"):
            if k in om:
                m[k] = om[k]
            else:
                m.pop(k, None)
        m["resourceVersion"] = om["resourceVersion"]
        has_status = "status" in rt.subresources
        if has_status and sub == "status":
            keep = deep(old)
            if "status" in obj:
                keep["status"] = obj["status"]
            else:
                keep.pop("status", None)
            keep["metadata"]["managedFields"] = m.get("managedFields")
            obj = keep
            m = obj["metadata"]
        elif sub == "finalize":
            keep = deep(old)
            keep["spec"]["finalizers"] = (obj.get("spec") or {}).get("finalizers") or []
            obj = keep
            m = obj["metadata"]
        elif has_status:
            if "status" in old:
                obj["status"] = deep(old["status"])
            else:
                obj.pop("status", None)
        self._prepare(rt, version, obj, old, ctx)
        if (rt.generation or rt.crd is not None) and _spec_changed(obj, old):
            m["generation"] = om.get("generation", 0) + 1
        if not apply_mode:
            ssa.track_update(rt, old, obj, ctx.manager, obj["apiVersion"], sub, now(),
                             has_status, version)
        if _same(obj, old):
            return self.out(rt, version, old)
        if om.get("deletionTimestamp") and not m.get("finalizers") and \
                not self.strategies.blocks_deletion(rt, obj):
            return self._really_delete(rt, version, old, ctx, obj)
        return self._commit(rt, version, obj, old, "MODIFIED", ctx)

    def update(self, rt, version, ns, name, body, ctx, sub=""):
        obj = self._decode(rt, version, ns, body, name)
        with self.store.lock:
            old = self.store.get(rt.key, ns, name)
            if old is None:
                if sub or not self.strategies.create_on_update(rt):
                    raise not_found(rt, name)
                return self.create(rt, version, ns, body, ctx)
            return self._finish_update(rt, version, obj, old, ctx, sub)

    def patch(self, rt, version, ns, name, body, ptype, ctx, sub=""):
        if ptype == "apply":
            return self.apply(rt, version, ns, name, body, ctx, sub)
        with self.store.lock:
            old = self.store.get(rt.key, ns, name)
            if old is None:
                raise not_found(rt, name)
            cur = self.out(rt, version, old)
            if ptype == "json":
                new = patch.json_patch(cur, body)
            elif ptype == "merge":
                if not isinstance(body, dict):
                    raise bad_request("merge patch must be a JSON object")
                new = patch.merge_patch(cur, body)
            elif ptype == "strategic":
                if rt.crd is not None:
                    raise ApiError(415, "the body of the request was in an unknown format "
                                   "- accepted media types include: "
                                   "application/json-patch+json, "
                                   "application/merge-patch+json, "
                                   "application/apply-patch+yaml",
                                   "UnsupportedMediaType")
                new = patch.strategic_merge(rt, deep(cur), body)
            else:
                raise ApiError(415, "unsupported patch type", "UnsupportedMediaType")
            if not isinstance(new, dict):
                raise bad_request("patch did not produce an object")
            obj = self._decode(rt, version, ns, new, name)
            if obj["metadata"].get("resourceVersion") == old["metadata"]["resourceVersion"]:
                obj["metadata"].pop("resourceVersion")
            return self._finish_update(rt, version, obj, old, ctx, sub)

    def apply(self, rt, version, ns, name, body, ctx, sub=""):
        if not isinstance(body, dict):
            raise bad_request("apply patch must be a YAML or JSON object")
        applied = self._decode(rt, version, ns, body, name)
        if "fieldManager" not in ctx.extra:
            raise bad_request("PATCH, application/apply-patch+yaml requests must "
                              "specify the fieldManager query parameter")
        with self.store.lock:
            old = self.store.get(rt.key, ns, name)
            has_status = "status" in rt.subresources
            live = deep(old) if old is not None else None
            merged = ssa.server_side_apply(rt, live, applied, ctx.manager, ctx.force,
                                           applied["apiVersion"], sub, now(),
                                           has_status, version)
            if old is None:
                if sub:
                    raise not_found(rt, name)
                mf = merged["metadata"].get("managedFields")
                obj = self._decode(rt, version, ns, merged)
                return self._create_applied(rt, version, ns, obj, mf, ctx)
            rv = applied["metadata"].get("resourceVersion")
            merged["metadata"]["resourceVersion"] = rv or old["metadata"]["resourceVersion"]
            return self._finish_update(rt, version, merged, old, ctx, sub, apply_mode=True)

    def _create_applied(self, rt, version, ns, obj, managed, ctx):
        m = obj["metadata"]
        self._namespace_ok(rt, ns, m.get("name", ""))
        if "status" in rt.subresources:
            self.strategies.reset_status(rt, obj)
        m["uid"] = str(uuid.uuid4())
        m["creationTimestamp"] = now()
        self._prepare(rt, version, obj, None, ctx)
        if rt.generation or rt.crd is not None:
            m["generation"] = 1
        if managed:
            m["managedFields"] = managed
        return self._commit(rt, version, obj, None, "ADDED", ctx)

    # --- deletion ------------------------------------------------------
    def delete(self, rt, version, ns, name, opts, ctx):
        """Returns (http code, body)."""
        opts = opts or {}
        with self.store.lock:
            old = self.store.get(rt.key, ns, name)
            if old is None:
                raise not_found(rt, name)
            pre = opts.get("preconditions") or {}
            om = old["metadata"]
            if pre.get("uid") and pre["uid"] != om["uid"]:
                raise ApiError(409, 'Precondition failed: UID in precondition: %s, UID in '
                               'object meta: %s' % (pre["uid"], om["uid"]), "Conflict",
                               {"name": name, "group": rt.group, "kind": rt.plural})
            if pre.get("resourceVersion") and pre["resourceVersion"] != om["resourceVersion"]:
                raise ApiError(409, 'Precondition failed: ResourceVersion in precondition: '
                               '%s, ResourceVersion in object meta: %s'
                               % (pre["resourceVersion"], om["resourceVersion"]), "Conflict",
                               {"name": name, "group": rt.group, "kind": rt.plural})
            policy = opts.get("propagationPolicy")
            if policy is None and opts.get("orphanDependents") is not None:
                policy = "Orphan" if opts["orphanDependents"] else "Background"
            if policy is None:
                policy = self.strategies.default_propagation(rt)
            fins = list(om.get("finalizers") or [])
            extra = self.strategies.deletion_finalizers(rt, old, policy)
            if om.get("deletionTimestamp"):
                if policy == "Foreground" and "foregroundDeletion" not in fins and \
                        self.store.dependents(om["uid"]):
                    fins.append("foregroundDeletion")
                    return 200, self._mark(rt, version, old, fins, ctx)
                return 200, self.out(rt, version, old)
            if policy == "Orphan" and self.store.dependents(om["uid"]):
                extra.append("orphan")
            if policy == "Foreground" and self.store.dependents(om["uid"]):
                extra.append("foregroundDeletion")
            fins += [f for f in extra if f not in fins]
            if fins or self.strategies.blocks_deletion(rt, old):
                code = 202 if opts.get("orphanDependents") is False else 200
                return code, self._mark(rt, version, old, fins, ctx)
            out = self._really_delete(rt, version, old, ctx)
            if rt.crd is not None or rt.key in ("pods", "namespaces"):
                return 200, out
            return 200, status_obj(200, "", "", {"name": name, "group": rt.group,
                                                "kind": rt.plural,
                                                "uid": om["uid"]}, "Success")

    def _mark(self, rt, version, old, fins, ctx):
        obj = dict(old)
        m = obj["metadata"] = dict(old["metadata"])
        if fins:
            m["finalizers"] = fins
        m["deletionTimestamp"] = now()
        m["deletionGracePeriodSeconds"] = 0
        if m.get("generation"):
            m["generation"] += 1
        self.strategies.on_terminating(rt, obj)
        return self._commit(rt, version, obj, old, "MODIFIED", ctx)

    def _really_delete(self, rt, version, old, ctx, last=None):
        obj = dict(last or old)
        obj["metadata"] = dict(obj["metadata"])
        if ctx.dry_run:
            return self.out(rt, version, obj)
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit(rt.key, obj, "DELETED", old)
        self.strategies.after_write(rt, obj, old, "DELETED")
        return self.out(rt, version, obj)

    def delete_collection(self, rt, version, ns, opts, ctx, match_labels=None,
                          match_fields=None):
        objs, _ = self.store.list(rt.key, ns)
        items = []
        for o in objs:
            m = o["metadata"]
            if match_labels and not match_labels(m.get("labels")):
                continue
            if match_fields and not match_fields(o):
                continue
            try:
                _, res = self.delete(rt, version, m.get("namespace", ""), m["name"], opts, ctx)
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            items.append(self.out(rt, version, o))
        return {"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                "metadata": {"resourceVersion": str(self.store.rv)}, "items": items}


_VOLATILE = ("resourceVersion", "managedFields", "generation")


def _strip(o):
    d = dict(o)
    m = dict(d.get("metadata") or {})
    for k in _VOLATILE:
        m.pop(k, None)
    d["metadata"] = m
    return d


def _same(a, b):
    if _strip(a) != _strip(b):
        return False
    return _mf(a) == _mf(b)


def _mf(o):
    return [{k: v for k, v in e.items() if k != "time"}
            for e in o["metadata"].get("managedFields") or ()]


def _spec_changed(new, old):
    ka = {k: v for k, v in new.items() if k not in ("metadata", "status")}
    kb = {k: v for k, v in old.items() if k not in ("metadata", "status")}
    return ka != kb

"""Simulated controllers: a small work queue with timers, and the
deployment, job, cronjob, pod ("kubelet"), namespace, serviceaccount, PVC,
CRD-cleanup and garbage-collector controllers.  StatefulSets live in
statefulsets.py.  Each can be switched off with --no-controllers.

They act through the same REST storage as clients, as the user
system:kube-controller-manager with manager name kube-controller-manager.
"""
import heapq
import itertools
import queue
import re
import sys
import threading
import time
import traceback

from . import cron
from .errors import ApiError
from .rest import Ctx, deep, now

CTX = Ctx("system:kube-controller-manager", ["system:masters"], "kube-controller-manager")


def ts(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t if t is not None else time.time()))


def parse_ts(s):
    import calendar
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))


def cond(ctype, status, reason, message, old_conds=None):
    """A condition keeping lastTransitionTime when its status is unchanged."""
    t = now()
    for c in old_conds or ():
        if c.get("type") == ctype and c.get("status") == status:
            t = c.get("lastTransitionTime", t)
    return {"type": ctype, "status": status, "lastUpdateTime": now(),
            "lastTransitionTime": t, "reason": reason, "message": message}


class Manager:
    def __init__(self, api, opts, disabled):
        self.api, self.opts, self.disabled = api, opts, disabled
        self.store, self.reg = api.store, api.registry
        self.q = queue.Queue()
        self.pending = set()
        self.timers = []
        self.seq = itertools.count()
        self.tlock = threading.Lock()
        self.fail_re = re.compile(opts.fail_image) if opts.fail_image else None
        self.t0 = time.time()
        from .statefulsets import StatefulSets
        self.handlers = {
            "deployments": self.sync_deployment, "jobs": self.sync_job,
            "cronjobs": self.sync_cronjob, "pods": self.sync_pod,
            "namespaces": self.sync_namespace, "gc": self.sync_gc,
            "pvcs": self.sync_pvc, "crds": self.sync_crd,
            "serviceaccounts": self.sync_serviceaccounts,
            "statefulsets": StatefulSets(self).sync, "hpas": self.sync_hpa,
        }
        self.deploy_ready_at = {}
        self.pod_ready_at = {}

    # --- queue ---------------------------------------------------------
    def enabled(self, name):
        return name not in self.disabled

    def enqueue(self, item):
        if item[0] in self.disabled:
            return
        if item not in self.pending:
            self.pending.add(item)
            self.q.put(item)

    def after(self, secs, item):
        with self.tlock:
            heapq.heappush(self.timers, (time.monotonic() + secs, next(self.seq), item))

    def start(self, stop):
        self.store.listeners.append(self.on_event)
        threading.Thread(target=self.run, args=(stop,), daemon=True).start()
        for o in self.store.list("namespaces")[0]:
            self.enqueue(("serviceaccounts", "", o["metadata"]["name"]))
        for key, name in (("deployments.apps", "deployments"), ("statefulsets.apps",
                                                                 "statefulsets"),
                          ("jobs.batch", "jobs"), ("cronjobs.batch", "cronjobs"),
                          ("pods", "pods"), ("horizontalpodautoscalers.autoscaling", "hpas")):
            for o in self.store.list(key)[0]:
                self.enqueue((name, o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def run(self, stop):
        while not stop.is_set():
            with self.tlock:
                t = time.monotonic()
                while self.timers and self.timers[0][0] <= t:
                    self.enqueue(heapq.heappop(self.timers)[2])
                wait = min(0.2, self.timers[0][0] - t) if self.timers else 0.2
            try:
                item = self.q.get(timeout=max(wait, 0.005))
            except queue.Empty:
                continue
            self.pending.discard(item)
            try:
                self.handlers[item[0]](*item[1:])
            except ApiError as e:
                if e.code in (409, 404, 422, 403):
                    self.after(0.1 if e.code == 409 else 1.0, item)
                else:
                    traceback.print_exc()
            except Exception:
                traceback.print_exc(file=sys.stdout)
                self.after(1.0, item)

    def on_event(self, ev):
        o = ev.obj
        m = o["metadata"]
        ns, name = m.get("namespace", ""), m["name"]
        k = ev.key
        simple = {"deployments.apps": "deployments", "jobs.batch": "jobs",
                  "cronjobs.batch": "cronjobs", "statefulsets.apps": "statefulsets",
                  "pods": "pods", "persistentvolumeclaims": "pvcs",
                  "horizontalpodautoscalers.autoscaling": "hpas"}
        if k in simple:
            self.enqueue((simple[k], ns, name))
        if k == "namespaces":
            self.enqueue(("serviceaccounts", "", name))
            if m.get("deletionTimestamp"):
                self.enqueue(("namespaces", "", name))
        if k == "customresourcedefinitions.apiextensions.k8s.io" and m.get("deletionTimestamp"):
            self.enqueue(("crds", "", name))
        for ref in m.get("ownerReferences") or ():
            kind = ref.get("kind")
            if kind == "StatefulSet":
                self.enqueue(("statefulsets", ns, ref.get("name")))
            elif kind == "CronJob":
                self.enqueue(("cronjobs", ns, ref.get("name")))
        if ev.type == "DELETED" or (m.get("deletionTimestamp") and (
                "foregroundDeletion" in (m.get("finalizers") or ()) or
                "orphan" in (m.get("finalizers") or ()))):
            self.enqueue(("gc", k, "%s|%s|%s" % (m.get("uid"), ns, name)))
        if ev.type == "DELETED" and m.get("ownerReferences"):
            pass

    # --- helpers -------------------------------------------------------
    def rt(self, key):
        return self.reg.by_key(key)

    def get(self, key, ns, name):
        return self.store.get(key, ns, name)

    def write_status(self, key, obj, status):
        if obj.get("status") == status:
            return obj
        new = deep(obj)
        new["status"] = status
        return self.api.update(self.rt(key), self.rt(key).versions[0],
                               obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                               new, CTX, "status")

    def failing(self, template_spec):
        if not self.fail_re:
            return False
        for c in (template_spec or {}).get("containers") or ():
            if self.fail_re.search(c.get("image") or ""):
                return True
        return False

    # --- deployments ---------------------------------------------------
    def sync_deployment(self, ns, name):
        d = self.get("deployments.apps", ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        spec = d.get("spec") or {}
        want = spec.get("replicas", 1)
        gen = d["metadata"].get("generation", 1)
        st = d.get("status") or {}
        key = (ns, name, d["metadata"]["uid"])
        mark = (gen, want)
        ready_at = self.deploy_ready_at.get(key)
        if ready_at is None or ready_at[0] != mark:
            ready_at = (mark, time.monotonic() + self.opts.ready_delay)
            self.deploy_ready_at[key] = ready_at
        fail = self.failing((spec.get("template") or {}).get("spec"))
        conds = st.get("conditions") or []
        rsname = "%s-%s" % (name, _hash(spec.get("template"))[:10])
        done = time.monotonic() >= ready_at[1] and not fail
        if done:
            ready = want
            new = {"observedGeneration": gen, "replicas": want, "updatedReplicas": want,
                   "readyReplicas": want, "availableReplicas": want, "conditions": [
                       cond("Available", "True", "MinimumReplicasAvailable",
                            "Deployment has minimum availability.", conds),
                       cond("Progressing", "True", "NewReplicaSetAvailable",
                            'ReplicaSet "%s" has successfully progressed.' % rsname, conds)]}
        else:
            ready = min(st.get("readyReplicas", 0), want) if not fail else 0
            new = {"observedGeneration": gen, "replicas": want, "updatedReplicas": want,
                   "readyReplicas": ready, "availableReplicas": ready,
                   "unavailableReplicas": want - ready, "conditions": [
                       cond("Available", "True" if ready >= want else "False",
                            "MinimumReplicasAvailable" if ready >= want else
                            "MinimumReplicasUnavailable",
                            "Deployment has minimum availability." if ready >= want else
                            "Deployment does not have minimum availability.", conds),
                       cond("Progressing", "True", "ReplicaSetUpdated",
                            'ReplicaSet "%s" is progressing.' % rsname, conds)]}
            if not fail:
                self.after(max(ready_at[1] - time.monotonic(), 0) + 0.01,
                           ("deployments", ns, name))
        for k in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas",
                  "unavailableReplicas"):
            if new.get(k) == 0:
                new.pop(k)
        self._replicasets(d, rsname, new.get("readyReplicas", 0))
        old_cmp = dict(st, conditions=[{k: v for k, v in c.items() if k != "lastUpdateTime"}
                                       for c in conds])
        new_cmp = dict(new, conditions=[{k: v for k, v in c.items() if k != "lastUpdateTime"}
                                        for c in new["conditions"]])
        if old_cmp != new_cmp:
            self.write_status("deployments.apps", d, new)

    def _replicasets(self, d, rsname, ready):
        """Keeps one ReplicaSet per template (as helm --wait and kubectl
        describe look for the new one); older ones are scaled to zero."""
        m, spec = d["metadata"], d.get("spec") or {}
        want = spec.get("replicas", 1)
        h = rsname.rsplit("-", 1)[1]
        rt = self.rt("replicasets.apps")
        for k, ns, name in self.store.dependents(m["uid"]):
            if k == "replicasets.apps" and name != rsname:
                old = self.get(k, ns, name)
                if old and old["spec"].get("replicas"):
                    new = deep(old)
                    new["spec"]["replicas"] = 0
                    old = self.api.update(rt, "v1", ns, name, new, CTX)
                    self.write_status(k, old, {"replicas": 0, "observedGeneration":
                                               old["metadata"].get("generation", 1)})
        rs = self.get("replicasets.apps", m["namespace"], rsname)
        if rs is None:
            t = deep(spec.get("template") or {})
            t.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            sel = deep(spec.get("selector") or {})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = h
            rs = self.api.create(rt, "v1", m["namespace"], {
                "metadata": {"name": rsname, "labels": t["metadata"]["labels"],
                             "annotations": {"deployment.kubernetes.io/revision": "1"},
                             "ownerReferences": [{
                                 "apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": m["name"], "uid": m["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]},
                "spec": {"replicas": want, "selector": sel, "template": t}}, CTX)
        elif rs["spec"].get("replicas") != want:
            new = deep(rs)
            new["spec"]["replicas"] = want
            rs = self.api.update(rt, "v1", m["namespace"], rsname, new, CTX)
        st = {"replicas": want, "fullyLabeledReplicas": want, "readyReplicas": ready,
              "availableReplicas": ready, "observedGeneration":
              rs["metadata"].get("generation", 1)}
        self.write_status("replicasets.apps", rs, {k: v for k, v in st.items()
                                                   if v or k == "replicas"})

    # --- horizontal pod autoscalers ------------------------------------
    def sync_hpa(self, ns, name):
        """The upstream HPA controller (pkg/controller/podautoscaler) without
        a metrics API, as on a cluster with no metrics-server: it reads the
        target's scale, clamps it into [minReplicas, maxReplicas] (rescaling
        the target when outside), and otherwise keeps desiredReplicas,
        reporting ScalingActive False. desiredReplicas is always present
        (the v2 type has no omitempty on it)."""
        h = self.get("horizontalpodautoscalers.autoscaling", ns, name)
        if h is None or h["metadata"].get("deletionTimestamp"):
            return
        spec = h.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        key = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps",
               "ReplicaSet": "replicasets.apps"}.get(ref.get("kind"))
        target = self.get(key, ns, ref.get("name")) if key else None
        st = dict(h.get("status") or {})
        st.setdefault("desiredReplicas", 0)
        conds = st.get("conditions") or []
        if target is None:
            st["conditions"] = [cond("AbleToScale", "False", "FailedGetScale",
                                     "the HPA controller was unable to get the target's "
                                     "current scale", conds)]
        else:
            cur = (target.get("spec") or {}).get("replicas", 1)
            lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas", 1)
            st["currentReplicas"] = cur
            if cur < lo or cur > hi:
                st["desiredReplicas"] = min(max(cur, lo), hi)
            st["conditions"] = [
                cond("AbleToScale", "True", "SucceededGetScale",
                     "the HPA controller was able to get the target's current scale", conds),
                cond("ScalingActive", "False", "FailedGetResourceMetric",
                     "the HPA was unable to compute the replica count: no metrics API "
                     "(simulated)", conds)]
        for c in st["conditions"]:
            c.pop("lastUpdateTime", None)
        self.write_status("horizontalpodautoscalers.autoscaling", h, st)
        if target is not None and st["desiredReplicas"] and st["desiredReplicas"] != cur:
            t = deep(target)
            t["spec"]["replicas"] = st["desiredReplicas"]
            self.api.update(self.rt(key), self.rt(key).versions[0], ns, t["metadata"]["name"],
                            t, CTX)
        self.after(15.0, ("hpas", ns, name))

    # --- pods ("kubelet") ----------------------------------------------
    def sync_pod(self, ns, name):
        p = self.get("pods", ns, name)
        if p is None or p["metadata"].get("deletionTimestamp"):
            return
        st = p.get("status") or {}
        if st.get("phase") in ("Running", "Succeeded", "Failed") and \
                any(c.get("type") == "Ready" for c in st.get("conditions") or ()):
            return
        uid = p["metadata"]["uid"]
        at = self.pod_ready_at.setdefault(uid, time.monotonic() + self.opts.ready_delay)
        if time.monotonic() < at:
            self.after(at - time.monotonic() + 0.01, ("pods", ns, name))
            return
        self.pod_ready_at.pop(uid, None)
        spec = p.get("spec") or {}
        fail = self.failing(spec)
        t = now()
        cs = []
        for c in spec.get("containers") or ():
            bad = bool(self.fail_re and self.fail_re.search(c.get("image") or ""))
            cs.append({"name": c.get("name"), "image": c.get("image"),
                       "imageID": "", "ready": not bad, "restartCount": 0, "started": not bad,
                       "state": {"running": {"startedAt": t}} if not bad else
                       {"waiting": {"reason": "CrashLoopBackOff",
                                    "message": "simulated failure (--fail-image)"}}})
        ready = "False" if fail else "True"
        conds = [{"type": "PodReadyToStartContainers", "status": "True"},
                 {"type": "Initialized", "status": "True"},
                 {"type": "Ready", "status": ready},
                 {"type": "ContainersReady", "status": ready},
                 {"type": "PodScheduled", "status": "True"}]
        for c in conds:
            c["lastProbeTime"] = None
            c["lastTransitionTime"] = t
            if c["status"] == "False":
                c["reason"] = "ContainersNotReady"
        n = int(uid[:4], 16) % 250 + 1
        new = dict(st, phase="Running", conditions=conds, containerStatuses=cs,
                   hostIP="10.0.0.1", podIP="10.244.%d.%d" % (n // 250, n),
                   podIPs=[{"ip": "10.244.%d.%d" % (n // 250, n)}], startTime=t)
        self.write_status("pods", p, new)

    # --- jobs ----------------------------------------------------------
    def sync_job(self, ns, name):
        j = self.get("jobs.batch", ns, name)
        if j is None or j["metadata"].get("deletionTimestamp"):
            return
        spec = j.get("spec") or {}
        st = dict(j.get("status") or {})
        if spec.get("suspend") or any(c.get("type") in ("Complete", "Failed") and
                                      c.get("status") == "True"
                                      for c in st.get("conditions") or ()):
            return
        if not st.get("startTime"):
            st.update(startTime=now(), active=spec.get("parallelism", 1) or 1, ready=0,
                      terminating=0, uncountedTerminatedPods={})
            self.write_status("jobs.batch", j, st)
            self.after(self.opts.job_duration, ("jobs", ns, name))
            return
        due = parse_ts(st["startTime"]) + self.opts.job_duration
        if time.time() < due:
            self.after(due - time.time() + 0.01, ("jobs", ns, name))
            return
        t = now()
        st.pop("active", None)
        st["ready"] = 0
        if self.failing((spec.get("template") or {}).get("spec")):
            self.failed_job_pod(j)
            st["failed"] = spec.get("backoffLimit", 6) + 1
            st["conditions"] = [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit",
                 "lastProbeTime": t, "lastTransitionTime": t},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit",
                 "lastProbeTime": t, "lastTransitionTime": t}]
        else:
            st["succeeded"] = spec.get("completions") or 1
            st["completionTime"] = t
            st["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods",
                 "lastProbeTime": t, "lastTransitionTime": t},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods",
                 "lastProbeTime": t, "lastTransitionTime": t}]
        self.write_status("jobs.batch", j, st)

    def failed_job_pod(self, j):
        """A Failed pod for a failed Job (labels job-name and
        batch.kubernetes.io/job-name, as the Job controller sets them), whose
        log says which image failed, so that clients can read it back."""
        m = j["metadata"]
        tpl = deep(((j.get("spec") or {}).get("template")) or {})
        images = [c.get("image") or "" for c in (tpl.get("spec") or {}).get("containers") or ()]
        labels = dict((tpl.get("metadata") or {}).get("labels") or {})
        labels.update({"job-name": m["name"], "batch.kubernetes.io/job-name": m["name"]})
        from .handlers import LOG_ANNOTATION
        log = "starting %s\nsimulated failure (--fail-image): the container exited with code 1\n" \
            % ", ".join(images)
        pod = self.api.create(self.rt("pods"), "v1", m["namespace"], {
            "metadata": {"generateName": m["name"] + "-", "labels": labels,
                         "annotations": {LOG_ANNOTATION: log},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": m["name"], "uid": m["uid"],
                                              "controller": True, "blockOwnerDeletion": True}]},
            "spec": tpl.get("spec") or {}}, CTX)
        t = now()
        self.write_status("pods", pod, {
            "phase": "Failed", "startTime": t,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodFailed",
                            "lastProbeTime": None, "lastTransitionTime": t}],
            "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "imageID": "",
                                   "ready": False, "restartCount": 0, "started": False,
                                   "state": {"terminated": {"exitCode": 1, "reason": "Error",
                                                            "startedAt": t, "finishedAt": t}}}
                                  for c in (tpl.get("spec") or {}).get("containers") or ()]})

    # --- cronjobs ------------------------------------------------------
    def vnow(self):
        return self.t0 + (time.time() - self.t0) * self.opts.cron_speedup

    def sync_cronjob(self, ns, name):
        cj = self.get("cronjobs.batch", ns, name)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return
        spec = cj.get("spec") or {}
        st = dict(cj.get("status") or {})
        try:
            sched = cron.Schedule(spec.get("schedule", ""))
        except ValueError:
            return
        jobs = [self.get("jobs.batch", ns, k[2]) for k in
                self.store.dependents(cj["metadata"]["uid"]) if k[0] == "jobs.batch"]
        jobs = [j for j in jobs if j is not None and not j["metadata"].get("deletionTimestamp")]
        active = [j for j in jobs if not _finished(j)]
        self._cron_history(ns, spec, jobs)
        st["active"] = [{"kind": "Job", "namespace": ns, "name": j["metadata"]["name"],
                         "uid": j["metadata"]["uid"], "apiVersion": "batch/v1",
                         "resourceVersion": j["metadata"]["resourceVersion"]}
                        for j in sorted(active, key=lambda x: x["metadata"]["name"])]
        if not st["active"]:
            st.pop("active")
        ok = [j for j in jobs if _finished(j) == "Complete"]
        if ok:
            st["lastSuccessfulTime"] = max((j.get("status") or {}).get("completionTime", "")
                                           for j in ok)
        last = parse_ts(st["lastScheduleTime"]) if st.get("lastScheduleTime") else \
            self.t0 + (parse_ts(cj["metadata"]["creationTimestamp"]) - self.t0) * \
            self.opts.cron_speedup
        vnow = self.vnow()
        due = sched.next_after(last)
        if not spec.get("suspend") and due is not None and due <= vnow:
            latest = due
            while True:
                n = sched.next_after(latest)
                if n is None or n > vnow:
                    break
                latest = n
            policy = spec.get("concurrencyPolicy", "Allow")
            if policy == "Forbid" and active:
                pass
            else:
                if policy == "Replace":
                    for j in active:
                        self.api.delete(self.rt("jobs.batch"), "v1", ns, j["metadata"]["name"],
                                        {"propagationPolicy": "Background"}, CTX)
                self._cron_create(cj, latest)
                st["lastScheduleTime"] = ts(latest)
        self.write_status("cronjobs.batch", cj, st)
        nxt = sched.next_after(max(vnow, last))
        if nxt is not None:
            self.after(max((nxt - vnow) / self.opts.cron_speedup, 0.05), ("cronjobs", ns, name))

    def _cron_create(self, cj, when):
        jt = deep((cj.get("spec") or {}).get("jobTemplate") or {})
        meta = jt.get("metadata") or {}
        m = cj["metadata"]
        name = "%s-%d" % (m["name"], int(when // 60))
        if self.get("jobs.batch", m["namespace"], name) is not None:
            return
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
            "name": name, "namespace": m["namespace"], "labels": meta.get("labels") or {},
            "annotations": dict(meta.get("annotations") or {}, **{
                "batch.kubernetes.io/cronjob-scheduled-timestamp": ts(when)}),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": m["name"],
                                 "uid": m["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]},
               "spec": jt.get("spec") or {}}
        self.api.create(self.rt("jobs.batch"), "v1", m["namespace"], job, CTX)

    def _cron_history(self, ns, spec, jobs):
        for state, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)),
                             ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            done = sorted((j for j in jobs if _finished(j) == state),
                          key=lambda j: j["metadata"]["creationTimestamp"])
            for j in done[:max(len(done) - (limit or 0), 0)]:
                self.api.delete(self.rt("jobs.batch"), "v1", ns, j["metadata"]["name"],
                                {"propagationPolicy": "Background"}, CTX)

    # --- namespaces, serviceaccounts, PVCs, CRDs -------------------------
    def sync_serviceaccounts(self, _ns, name):
        nso = self.get("namespaces", "", name)
        if nso is None or nso["metadata"].get("deletionTimestamp"):
            return
        if self.get("serviceaccounts", name, "default") is None:
            self.api.create(self.rt("serviceaccounts"), "v1", name,
                            {"metadata": {"name": "default"}}, CTX)
        if self.get("configmaps", name, "kube-root-ca.crt") is None:
            try:
                ca = open(self.opts.dir + "/pki/ca.crt").read()
            except OSError:
                ca = ""
            self.api.create(self.rt("configmaps"), "v1", name, {
                "metadata": {"name": "kube-root-ca.crt", "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to "
                    "verify the kube-apiserver when using internal endpoints such as the "
                    "internal service IP or kubernetes.default.svc. No other usage is "
                    "guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": ca}}, CTX)

    def sync_namespace(self, _ns, name):
        nso = self.get("namespaces", "", name)
        if nso is None or not nso["metadata"].get("deletionTimestamp"):
            return
        left = 0
        for key in self.store.namespaces_in_use(name):
            rt = self.rt(key)
            if rt is None:
                continue
            for o in self.store.list(key, name)[0]:
                left += 1
                if not o["metadata"].get("deletionTimestamp"):
                    try:
                        self.api.delete(rt, rt.versions[0], name, o["metadata"]["name"],
                                        {"propagationPolicy": "Background"}, CTX)
                    except ApiError:
                        pass
        if left and any(self.store.list(k, name)[0] for k in
                        self.store.namespaces_in_use(name)):
            self.after(0.2, ("namespaces", "", name))
            return
        new = deep(nso)
        new["spec"]["finalizers"] = []
        self.api.update(self.rt("namespaces"), "v1", "", name, new, CTX, "finalize")

    def sync_pvc(self, ns, name):
        p = self.get("persistentvolumeclaims", ns, name)
        if p is None or (p.get("status") or {}).get("phase") == "Bound":
            return
        spec = p.get("spec") or {}
        req = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self.write_status("persistentvolumeclaims", p, {
            "phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "capacity": {"storage": req}})

    def sync_crd(self, _ns, name):
        crd = self.get("customresourcedefinitions.apiextensions.k8s.io", "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        s = crd["spec"]
        rt = self.reg.get(s["group"], s["versions"][0]["name"], s["names"]["plural"])
        if rt is not None:
            objs = self.store.list(rt.key)[0]
            for o in objs:
                if not o["metadata"].get("deletionTimestamp"):
                    self.api.delete(rt, rt.versions[0], o["metadata"].get("namespace", ""),
                                    o["metadata"]["name"], {}, CTX)
            if self.store.list(rt.key)[0]:
                self.after(0.2, ("crds", "", name))
                return
        new = deep(crd)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or []
                                         if f != "customresourcecleanup.apiextensions.k8s.io"]
        self.api.update(self.rt("customresourcedefinitions.apiextensions.k8s.io"), "v1", "",
                        name, new, CTX)

    # --- garbage collector -----------------------------------------------
    def sync_gc(self, key, ident):
        uid, ns, name = ident.split("|", 2)
        owner = self.get(key, ns, name)
        if owner is not None and owner["metadata"].get("uid") != uid:
            owner = None
        deps = [d for d in self.store.dependents(uid)]
        fins = (owner or {}).get("metadata", {}).get("finalizers") or []
        if owner is not None and "orphan" in fins:
            for dk, dns, dname in deps:
                self._drop_ref(dk, dns, dname, uid)
            self._remove_finalizer(key, owner, "orphan")
            return
        if owner is not None and "foregroundDeletion" not in fins:
            return
        for dk, dns, dname in deps:
            d = self.get(dk, dns, dname)
            if d is None:
                continue
            refs = d["metadata"].get("ownerReferences") or []
            others = [r for r in refs if r.get("uid") != uid and self._owner_exists(r, dns)]
            if others:
                self._drop_ref(dk, dns, dname, uid)
            elif not d["metadata"].get("deletionTimestamp"):
                policy = "Foreground" if owner is not None else "Background"
                rt = self.rt(dk)
                try:
                    self.api.delete(rt, rt.versions[0], dns, dname,
                                    {"propagationPolicy": policy}, CTX)
                except ApiError as e:
                    if e.code != 404:
                        raise
        if owner is not None:
            if self.store.dependents(uid):
                self.after(0.2, ("gc", key, ident))
                return
            self._remove_finalizer(key, owner, "foregroundDeletion")

    def _owner_exists(self, ref, ns):
        rt = self.reg.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return False
        o = self.get(rt.key, ns if rt.namespaced else "", ref.get("name"))
        return o is not None and o["metadata"].get("uid") == ref.get("uid")

    def _drop_ref(self, key, ns, name, uid):
        d = self.get(key, ns, name)
        if d is None:
            return
        new = deep(d)
        new["metadata"]["ownerReferences"] = [r for r in new["metadata"].get(
            "ownerReferences") or [] if r.get("uid") != uid]
        if not new["metadata"]["ownerReferences"]:
            del new["metadata"]["ownerReferences"]
        rt = self.rt(key)
        self.api.update(rt, rt.versions[0], ns, name, new, CTX)

    def _remove_finalizer(self, key, obj, fin):
        new = deep(obj)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or []
                                         if f != fin]
        rt = self.rt(key)
        m = obj["metadata"]
        self.api.update(rt, rt.versions[0], m.get("namespace", ""), m["name"], new, CTX)


def _finished(job):
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            return c["type"]
    return None


def _hash(obj):
    import hashlib
    import json
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()

#!/usr/bin/python3
"""Renders charts/posthog-operator with several value sets and checks the
rendered objects: restricted pod security, replicas, probes, flags, exact
and wildcard-free RBAC (cluster-wide by default, Roles only when the watched
namespaces are restricted), Service/PDB/ServiceMonitor selectors, the alert
rules, and that appVersion tracks meson.build's version.

Run by hack/test.d/50-chart with Debian's python3 (python3-yaml). Prints one
"ok - ..." or "not ok - ..." line per check and a closing
"RESULT passed=N failed=N" line for the runner to add up.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CHART = os.path.join(TOP, "charts", "posthog-operator")
RELEASE, NS = "pho", "pho-system"
FULLNAME = "pho-posthog-operator"

# What the operator needs, as (apiGroup, resource, verb) triples. The chart's
# one list is templates/_rbac_rules.tpl; this pins it so that a change there
# is deliberate and reviewed (update both together).
NEEDED = {
    ("posthog.com", "posthogs"): "get list watch update patch",
    ("posthog.com", "posthogs/status"): "get update patch",
    ("posthog.com", "posthogs/finalizers"): "update",
    # the backup API: schedules create and prune PostHogBackups
    ("posthog.com", "posthogbackups"): "get list watch create delete",
    ("posthog.com", "posthogbackups/status"): "get update patch",
    ("posthog.com", "posthogbackupschedules"): "get list watch",
    ("posthog.com", "posthogbackupschedules/status"): "get update patch",
    ("posthog.com", "posthogrestores"): "get list watch",
    ("posthog.com", "posthogrestores/status"): "get update patch",
    ("apps", "statefulsets"): "get list watch create update patch delete",
    ("apps", "deployments"): "get list watch create update patch delete",
    ("", "services"): "get list watch create update patch delete",
    ("", "configmaps"): "get list watch create update patch delete",
    # read one by one and kept in memory (pkg/secretcache): never listed or watched
    ("", "secrets"): "get",
    ("", "persistentvolumeclaims"): "get list watch delete",
    # a failed migrate Job's pod and the tail of its log (MigrationFailed);
    # the stateful pods the restart plan deletes one at a time
    ("", "pods"): "list delete",
    ("", "pods/log"): "get",
    ("batch", "jobs"): "get list watch create update patch delete",
    ("policy", "poddisruptionbudgets"): "get list watch create update patch delete",
    ("autoscaling", "horizontalpodautoscalers"): "get list watch create update patch delete",
    ("events.k8s.io", "events"): "create patch update",
    ("", "events"): "create patch",
}
SERVICE_PROXY = {("", "services/proxy"): "get create"}
LEADER = {
    ("coordination.k8s.io", "leases"): "create get update",
    ("events.k8s.io", "events"): "create patch update",
    ("", "events"): "create patch",
}
# Never acceptable for this operator, whatever the list above says.
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate", "deletecollection"}
FORBIDDEN_GROUPS = {"rbac.authorization.k8s.io", "apiextensions.k8s.io",
                    "admissionregistration.k8s.io", "certificates.k8s.io"}
FORBIDDEN_RESOURCES = {"pods/exec", "pods/attach", "pods/portforward", "nodes",
                       "nodes/proxy", "namespaces", "serviceaccounts/token",
                       "serviceaccounts", "persistentvolumes"}

passed = failed = 0

# promtool unit tests of the alerts: each fires on series that should fire
# it, with the labels and text an on-call engineer sees.
ALERT_TESTS = """
rule_files: ["@RULES@"]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'posthog_ready{job="@JOB@", namespace="team-a", name="prod", instance="a"}'
        values: '0x30'
      - series: 'posthog_ready{job="@JOB@", namespace="team-a", name="prod", instance="b"}'
        values: '0x30'
      - series: 'posthog_ready{job="@JOB@", namespace="team-a", name="ok", instance="a"}'
        values: '1x30'
      - series: 'posthog_bucket_ready{job="@JOB@", namespace="team-a", name="prod", bucket="2"}'
        values: '1x5 0x30'
      - series: 'up{job="@JOB@", instance="a"}'
        values: '1x5 0x30'
      - series: 'leader_election_master_status{job="@JOB@", instance="a", name="lease"}'
        values: '1x5 0x30'
      - series: 'controller_runtime_reconcile_errors_total{job="@JOB@", controller="posthog"}'
        values: '0+1x30'
      - series: 'kube_deployment_status_replicas_available{namespace="team-a", deployment="prod-plugins-0"}'
        values: '0x30'
      - series: 'kube_deployment_spec_replicas{namespace="team-a", deployment="prod-plugins-0"}'
        values: '2x30'
      - series: 'kube_deployment_status_replicas_available{namespace="team-a", deployment="idle-plugins-1"}'
        values: '0x30'
      - series: 'kube_deployment_spec_replicas{namespace="team-a", deployment="idle-plugins-1"}'
        values: '0x30'
      - series: 'posthog_backup_schedule_interval_seconds{job="@JOB@", namespace="team-a", posthog="prod", schedule="s"}'
        values: '120x30'
      - series: 'posthog_backup_last_success_timestamp_seconds{job="@JOB@", namespace="team-a", posthog="prod"}'
        values: '0x30'
      - series: 'posthog_backup_schedule_interval_seconds{job="@JOB@", namespace="team-a", posthog="ok", schedule="s"}'
        values: '3600x30'
      - series: 'posthog_backup_last_success_timestamp_seconds{job="@JOB@", namespace="team-a", posthog="ok"}'
        values: '0x30'
      - series: 'posthog_backup_schedule_interval_seconds{job="@JOB@", namespace="team-b", posthog="never", schedule="s"}'
        values: '3600x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: PostHogBackupTooOld
        exp_alerts:
          - exp_labels: {severity: warning, namespace: team-a, posthog: prod}
            exp_annotations:
              summary: A PostHog's last backup is too old.
              description: >-
                PostHog team-a/prod has a PostHogBackupSchedule but no backup
                completed within 2 schedule intervals. See `kubectl get
                posthogbackups -n team-a` and the failed backups' conditions.
          - exp_labels: {severity: warning, namespace: team-b, posthog: never}
            exp_annotations:
              summary: A PostHog's last backup is too old.
              description: >-
                PostHog team-b/never has a PostHogBackupSchedule but no backup
                completed within 2 schedule intervals. See `kubectl get
                posthogbackups -n team-b` and the failed backups' conditions.
      - eval_time: 20m
        alertname: PostHogNotReady
        exp_alerts:
          - exp_labels: {severity: warning, namespace: team-a, name: prod}
            exp_annotations:
              summary: A PostHog is not Ready.
              description: >-
                PostHog team-a/prod has not been Ready for 15m.
                See `kubectl describe posthog -n team-a prod`.
      - eval_time: 20m
        alertname: PostHogBucketNotReady
        exp_alerts:
          - exp_labels: {severity: warning, namespace: team-a, name: prod, bucket: "2"}
            exp_annotations:
              summary: A PostHog bucket is not Ready.
              description: >-
                Bucket 2 of PostHog team-a/prod has not been Ready for 10m:
                its events are not ingested.
      - eval_time: 20m
        alertname: PostHogOperatorDown
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: No posthog-operator replica is up.
              description: >-
                Prometheus has scraped no posthog-operator replica (job="@JOB@")
                for 5m. PostHog objects are not reconciled.
      - eval_time: 20m
        alertname: PostHogOperatorNoLeader
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: No posthog-operator replica holds the leader Lease.
              description: >-
                The operator replicas are up but none has led for 5m. Check the
                Lease in pho-system and the operator's logs.
      - eval_time: 20m
        alertname: PostHogOperatorReconcileErrors
        exp_alerts:
          - exp_labels: {severity: warning, controller: posthog}
            exp_annotations:
              summary: The posthog-operator keeps failing to reconcile.
              description: >-
                Controller posthog has returned reconcile errors (16.67m/s) for 15m.
                The PostHog objects' conditions and events carry the causes.
      - eval_time: 20m
        alertname: PostHogPluginServerUnavailable
        exp_alerts:
          - exp_labels: {severity: critical, namespace: team-a, deployment: prod-plugins-0}
            exp_annotations:
              summary: A plugin-server bucket has no available replica.
              description: >-
                Deployment team-a/prod-plugins-0 has had no available replica for 5m
                (kube-state-metrics). Its bucket's events are not processed.
"""


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what + (": " + str(detail) if detail else ""))
    return cond


def helm():
    return shutil.which("helm") or os.path.join(TOP, ".tools", "bin", "helm")


def render(values=None, sets=()):
    cmd = [helm(), "template", RELEASE, CHART, "--namespace", NS]
    if values:
        cmd += ["-f", values]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return [d for d in yaml.safe_load_all(p.stdout) if d], ""


def by_kind(objs, kind):
    return [o for o in objs if o.get("kind") == kind]


def one(objs, kind):
    found = by_kind(objs, kind)
    return found[0] if len(found) == 1 else None


def triples(rules):
    out = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((g, res, v))
    return out


def expand(table):
    return {(g, r, v) for (g, r), verbs in table.items() for v in verbs.split()}


def check_rbac_rules(name, rules):
    wild = [r for r in rules
            if any("*" in r.get(k, []) for k in ("verbs", "resources", "apiGroups", "resourceNames"))
            or any("*" in x for k in ("resources",) for x in r.get(k, []))]
    check(not wild, name + ": no '*' in verbs, resources, apiGroups or resourceNames", wild)
    check(all(not r.get("nonResourceURLs") for r in rules),
          name + ": no nonResourceURLs")
    bad = [t for t in triples(rules)
           if t[2] in FORBIDDEN_VERBS or t[0] in FORBIDDEN_GROUPS or t[1] in FORBIDDEN_RESOURCES
           or (t[1] == "secrets" and t[2] != "get")]
    check(not bad, name + ": no escalation, secrets beyond get, exec, nodes or namespaces", sorted(bad))


def check_operator_rules(name, rules, service_proxy):
    want = expand(NEEDED) | (expand(SERVICE_PROXY) if service_proxy else set())
    got = triples(rules)
    check(got == want, name + ": exactly the operator's permissions",
          "missing %s extra %s" % (sorted(want - got), sorted(got - want)))
    check_rbac_rules(name, rules)


def pod_labels(dep):
    return dep["spec"]["template"]["metadata"]["labels"]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_deployment(case, objs, replicas, namespaces, resources):
    dep = one(objs, "Deployment")
    if not check(dep is not None, case + ": exactly one Deployment"):
        return None
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    check(spec.get("replicas") == replicas, case + ": %d replicas" % replicas, spec.get("replicas"))
    check(selects(spec["selector"]["matchLabels"], pod_labels(dep)),
          case + ": Deployment selector matches its pod labels")
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532
          and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
          case + ": pod securityContext non-root 65532, seccomp RuntimeDefault", psc)
    check(not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")),
          case + ": no host namespaces")
    check(not any("hostPath" in v for v in pod.get("volumes", [])), case + ": no hostPath volumes")
    cs = pod.get("containers", [])
    if not check(len(cs) == 1, case + ": one container"):
        return dep
    c = cs[0]
    sc = c.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True
          and sc.get("allowPrivilegeEscalation") is False and not sc.get("privileged")
          and sc.get("capabilities", {}).get("drop") == ["ALL"]
          and not sc.get("capabilities", {}).get("add")
          and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
          case + ": container securityContext restricted", sc)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(ports == {"metrics": 8080, "health": 8081}, case + ": ports metrics 8080, health 8081", ports)
    lp = c.get("livenessProbe", {}).get("httpGet", {})
    rp = c.get("readinessProbe", {}).get("httpGet", {})
    check(lp.get("path") == "/healthz" and ports.get(lp.get("port")) == 8081,
          case + ": liveness probe GET /healthz on 8081", lp)
    check(rp.get("path") == "/readyz" and ports.get(rp.get("port")) == 8081,
          case + ": readiness probe GET /readyz on 8081", rp)
    args = c.get("args", [])
    for a in ("--leader-elect", "--leader-election-namespace=" + NS,
              "--leader-election-id=" + FULLNAME,
              "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
              "--log-format=json"):
        check(a in args, case + ": args include " + a, args)
    got_ns = [a.split("=", 1)[1] for a in args if a.startswith("--namespace=")]
    check(got_ns == namespaces, case + ": --namespace flags %s" % namespaces, got_ns)
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
    check(env.get("POD_NAME") == "metadata.name" and env.get("POD_NAMESPACE") == "metadata.namespace",
          case + ": POD_NAME and POD_NAMESPACE from the downward API", env)
    check(c.get("resources") == resources, case + ": resources " + json.dumps(resources), c.get("resources"))
    check(c.get("image") == "ghcr.io/posthog-operator/posthog-operator:" + app_version()
          or "@sha256:" in c.get("image", ""),
          case + ": image tag defaults to appVersion", c.get("image"))
    return dep


def check_common(case, objs, dep):
    sa = one(objs, "ServiceAccount")
    check(sa is not None and dep is not None
          and dep["spec"]["template"]["spec"].get("serviceAccountName") == sa["metadata"]["name"],
          case + ": the Deployment runs as the chart's ServiceAccount")
    svc = one(objs, "Service")
    if check(svc is not None, case + ": one metrics Service") and dep:
        check(selects(svc["spec"]["selector"], pod_labels(dep)), case + ": Service selects the operator pods")
        check([(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]]
              == [("metrics", 8080, "metrics")], case + ": Service port metrics 8080", svc["spec"]["ports"])
    pdb = one(objs, "PodDisruptionBudget")
    if check(pdb is not None, case + ": one PodDisruptionBudget") and dep:
        check(selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(dep))
              and pdb["spec"].get("maxUnavailable") == 1,
              case + ": PDB selects the operator pods, maxUnavailable 1", pdb["spec"])
    # The leader-election Role: leases in the release namespace only, and
    # get/update only on the operator's own Lease.
    le = [r for r in by_kind(objs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    if check(len(le) == 1 and le[0]["metadata"]["namespace"] == NS,
             case + ": a leader-election Role in the release namespace"):
        rules = le[0]["rules"]
        check(triples(rules) == expand(LEADER), case + ": leader-election Role is leases + events only",
              sorted(triples(rules)))
        named = [r for r in rules if "leases" in r["resources"] and "get" in r["verbs"]]
        check(named and all(r.get("resourceNames") == [FULLNAME] for r in named),
              case + ": lease get/update limited to the operator's Lease", named)
        check_rbac_rules(case + " leader-election Role", rules)
    for b in by_kind(objs, "RoleBinding") + by_kind(objs, "ClusterRoleBinding"):
        check(b["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NS}],
              case + ": %s %s binds only the chart's ServiceAccount" % (b["kind"], b["metadata"]["name"]),
              b["subjects"])
    for o in objs:
        md = o.get("metadata", {})
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
            if md.get("namespace") != NS:
                check(False, case + ": %s %s in the release namespace" % (o["kind"], md.get("name")),
                      md.get("namespace"))


def check_cluster_rbac(case, objs, service_proxy=False):
    crs, crbs = by_kind(objs, "ClusterRole"), by_kind(objs, "ClusterRoleBinding")
    if check(len(crs) == 1 and len(crbs) == 1, case + ": one ClusterRole and one ClusterRoleBinding"):
        check_operator_rules(case + " ClusterRole", crs[0]["rules"], service_proxy)
        check(crbs[0]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                     "name": crs[0]["metadata"]["name"]},
              case + ": ClusterRoleBinding refers to the ClusterRole")
    ops = [r for r in by_kind(objs, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    check(not ops, case + ": no per-namespace Roles in cluster-wide mode")


def check_namespaced_rbac(case, objs, namespaces):
    check(not by_kind(objs, "ClusterRole") and not by_kind(objs, "ClusterRoleBinding"),
          case + ": no ClusterRole or ClusterRoleBinding when namespaces are restricted")
    ops = [r for r in by_kind(objs, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    check(sorted(r["metadata"]["namespace"] for r in ops) == sorted(namespaces),
          case + ": one operator Role per watched namespace", [r["metadata"]["namespace"] for r in ops])
    for r in ops:
        check_operator_rules(case + " Role in " + r["metadata"]["namespace"], r["rules"], False)
    rbs = [b for b in by_kind(objs, "RoleBinding") if not b["metadata"]["name"].endswith("-leader-election")]
    check(sorted((b["metadata"]["namespace"], b["roleRef"]["kind"], b["roleRef"]["name"]) for b in rbs)
          == sorted((n, "Role", FULLNAME) for n in namespaces),
          case + ": one RoleBinding to the Role per watched namespace")


def check_monitoring(case, objs, dep):
    svc = one(objs, "Service")
    sm = one(objs, "ServiceMonitor")
    if check(sm is not None, case + ": a ServiceMonitor") and svc:
        check(selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]),
              case + ": ServiceMonitor selects the metrics Service")
        ep = sm["spec"]["endpoints"]
        check(len(ep) == 1 and ep[0]["port"] == "metrics" and ep[0]["path"] == "/metrics"
              and ep[0].get("honorLabels") is True,
              case + ": ServiceMonitor scrapes port metrics /metrics with honorLabels", ep)
        check(sm["spec"]["namespaceSelector"] == {"matchNames": [NS]},
              case + ": ServiceMonitor looks in the release namespace")
    pr = one(objs, "PrometheusRule")
    if not check(pr is not None, case + ": a PrometheusRule"):
        return
    rules = [r for g in pr["spec"]["groups"] for r in g["rules"]]
    alerts = {r["alert"]: r for r in rules}
    job = 'job="%s-metrics"' % FULLNAME
    want = {
        "PostHogOperatorDown": "up{" + job + "}",
        "PostHogOperatorReconcileErrors": "rate(controller_runtime_reconcile_errors_total{" + job + "}",
        "PostHogNotReady": "posthog_ready{" + job + "}",
        "PostHogBucketNotReady": "posthog_bucket_ready{" + job + "}",
        "PostHogBackupTooOld": "posthog_backup_last_success_timestamp_seconds{" + job + "}",
        "PostHogPluginServerUnavailable": 'kube_deployment_status_replicas_available{deployment=~".*-plugins-.*"} == 0',
    }
    for name, frag in want.items():
        r = alerts.get(name)
        check(r is not None and frag in r["expr"], case + ": alert %s uses %s" % (name, frag),
              r and r["expr"])
    for name, r in alerts.items():
        check(r.get("for") and r.get("labels", {}).get("severity") in ("warning", "critical")
              and r.get("annotations", {}).get("summary") and r.get("annotations", {}).get("description"),
              case + ": alert %s has for, severity, summary and description" % name)
        check("{{" not in r["expr"], case + ": alert %s expr has no unrendered template" % name)
    promtool = shutil.which("promtool")
    if promtool:
        doc = {"groups": pr["spec"]["groups"]}
        path = "/tmp/pho-chart-rules-%d.yaml" % os.getpid()
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        p = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        check(p.returncode == 0, case + ": promtool check rules", p.stdout + p.stderr)
        test = os.path.join(os.path.dirname(path), "pho-chart-rules-test-%d.yaml" % os.getpid())
        with open(test, "w") as f:
            f.write(ALERT_TESTS.replace("@RULES@", path).replace("@JOB@", FULLNAME + "-metrics"))
        p = subprocess.run([promtool, "test", "rules", test], capture_output=True, text=True)
        os.unlink(test)
        os.unlink(path)
        check(p.returncode == 0, case + ": promtool test rules (each alert fires on sample series)",
              p.stdout + p.stderr)
    else:
        print("skip - promtool not installed: PromQL syntax not checked")


def lua_literal(v):
    if isinstance(v, dict):
        return "{" + ",".join("[%s]=%s" % (json.dumps(k), lua_literal(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "{" + ",".join(lua_literal(x) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


def check_argocd_health():
    """The Argo CD health check: docs/install.md embeds the chart's
    files/argocd-health.lua verbatim, and (where lua5.1, the dialect of
    Argo CD's gopher-lua, is installed) it maps sample PostHogs right."""
    path = os.path.join(CHART, "files", "argocd-health.lua")
    with open(path) as f:
        lua = f.read()
    docs = os.path.join(TOP, "docs", "install.md")
    if os.path.exists(docs):
        with open(docs) as f:
            text = f.read()
        block = "".join("    " + line if line.strip() else line for line in lua.splitlines(True))
        check(block in text, "docs/install.md embeds files/argocd-health.lua verbatim")
        blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)
        bad = []
        for b in blocks:
            try:
                list(yaml.safe_load_all(b))
            except yaml.YAMLError as e:
                bad.append(str(e))
        check(blocks and not bad, "docs/install.md: its %d YAML blocks parse" % len(blocks), bad)
    interp = shutil.which("lua5.1") or shutil.which("lua")
    if not interp:
        print("skip - lua5.1 not installed: the Argo CD health check was not run")
        return

    def cond(t, st, msg=""):
        return {"type": t, "status": st, "reason": t + st, "message": msg}
    cases = [
        ("no status", {"metadata": {"generation": 1}}, "Progressing"),
        ("status for an older generation",
         {"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "conditions": [cond("Ready", "True")]}},
         "Progressing"),
        ("Ready", {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            cond("Ready", "True", "ok"), cond("Progressing", "False"), cond("Degraded", "False")]}}, "Healthy"),
        ("Progressing", {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            cond("Ready", "False"), cond("Progressing", "True", "scaling"), cond("Degraded", "False")]}},
         "Progressing"),
        ("Degraded", {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            cond("Ready", "False"), cond("Progressing", "False"), cond("Degraded", "True", "bucket 2")]}},
         "Degraded"),
        ("SpecValid False", {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            cond("SpecValid", "False", "bad spec"), cond("Ready", "True")]}}, "Degraded"),
        ("phase Failed", {"metadata": {"generation": 2}, "status": {"phase": "Failed", "observedGeneration": 2,
                                                                    "conditions": [cond("Ready", "False")]}},
         "Degraded"),
        ("Ready False without a message", {"metadata": {"generation": 1}, "status": {"conditions": [
            {"type": "Ready", "status": "False"}]}}, "Progressing"),
    ]
    for name, obj, want in cases:
        prog = "obj = %s\nlocal hs = dofile(%s)\nio.write(hs.status, '|', tostring(hs.message))\n" % (
            lua_literal(obj), json.dumps(path))
        p = subprocess.run([interp, "-"], input=prog, capture_output=True, text=True)
        got = p.stdout.split("|")[0]
        check(p.returncode == 0 and got == want and "|nil" not in p.stdout,
              "Argo CD health of a PostHog with %s is %s" % (name, want), p.stdout + p.stderr)


def check_flags_known():
    """Every flag the chart can pass is one the operator's --help lists."""
    binary = next((b for b in (os.path.join(TOP, "build", "operator", "posthog-operator"),
                               os.path.join(TOP, "build-release", "operator", "posthog-operator"))
                   if os.access(b, os.X_OK)), None)
    if not binary:
        print("skip - no built operator binary: chart flags not checked against --help")
        return
    p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    known = set(re.findall(r"^\s+(--[a-z][a-z0-9-]*)", p.stdout + p.stderr, re.M))
    objs, err = render(sets=["watchNamespaces={a}", "operator.workers=4", "operator.qps=-1",
                             "operator.burst=50", "operator.clickhouseAccess=proxy", "rbac.serviceProxy=true"])
    if not check(objs is not None and known, "operator --help lists its flags", err or p.stdout[:200]):
        return
    args = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    unknown = [a for a in args if a.split("=", 1)[0] not in known]
    check(not unknown, "every flag the chart passes is one %s --help lists" % os.path.relpath(binary, TOP),
          unknown)


def app_version():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        return str(yaml.safe_load(f)["appVersion"])


def meson_version():
    with open(os.path.join(TOP, "meson.build")) as f:
        m = re.search(r"^project\((?:[^)]|\n)*?version:\s*'([^']+)'", f.read(), re.M)
    return m and m.group(1)


def main():
    check(meson_version() is not None and app_version() == meson_version(),
          "Chart.yaml appVersion %s equals meson.build version %s" % (app_version(), meson_version()))
    with open(os.path.join(CHART, "values.schema.json")) as f:
        check(isinstance(json.load(f), dict), "values.schema.json is JSON")

    default_res = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
    cases = [
        ("default", [], 2, [], default_res, "cluster", False),
        ("namespaced", ["watchNamespaces={team-a,team-b}"], 2, ["team-a", "team-b"], default_res,
         "namespaced", False),
        ("monitoring", ["serviceMonitor.enabled=true", "prometheusRule.enabled=true",
                        "prometheusRule.backups.enabled=true", "rbac.serviceProxy=true"], 2, [], default_res, "cluster", True),
        ("scaled", ["replicaCount=3", "resources.requests.cpu=200m", "resources.requests.memory=128Mi",
                    "resources.limits.cpu=1", "resources.limits.memory=512Mi", "podAntiAffinity=hard"],
         3, [], {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "512Mi"}},
         "cluster", False),
    ]
    for case, sets, replicas, namespaces, res, mode, monitoring in cases:
        objs, err = render(sets=sets)
        if not check(objs is not None, case + ": helm template renders", err):
            continue
        dep = check_deployment(case, objs, replicas, namespaces, res)
        check_common(case, objs, dep)
        if mode == "cluster":
            check_cluster_rbac(case, objs, service_proxy="rbac.serviceProxy=true" in sets)
        else:
            check_namespaced_rbac(case, objs, namespaces)
        if monitoring:
            check_monitoring(case, objs, dep)
        else:
            check(not by_kind(objs, "ServiceMonitor") and not by_kind(objs, "PrometheusRule"),
                  case + ": no ServiceMonitor or PrometheusRule unless enabled")
        if case == "scaled":
            aff = dep["spec"]["template"]["spec"].get("affinity", {}) if dep else {}
            check("requiredDuringSchedulingIgnoredDuringExecution" in aff.get("podAntiAffinity", {}),
                  case + ": podAntiAffinity=hard requires spreading")

    # Values the schema or the templates must refuse.
    for what, sets in [
        ("an unknown top-level key", ["replicas=2"]),
        ("a misspelt nested key", ["rbac.serviceproxy=true"]),
        ("an unknown log format", ["operator.logFormat=xml"]),
        ("an invalid namespace name", ["watchNamespaces={Team_A}"]),
        ("2 replicas without leader election", ["leaderElection.enabled=false"]),
        ("clickhouseAccess=proxy without rbac.serviceProxy", ["operator.clickhouseAccess=proxy"]),
        ("more than 64 workers", ["operator.workers=65"]),
    ]:
        objs, err = render(sets=sets)
        check(objs is None, "refuses " + what, "rendered without error")
    objs, err = render(sets=["leaderElection.enabled=false", "replicaCount=1"])
    if check(objs is not None, "renders 1 replica without leader election", err):
        dep = one(objs, "Deployment")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        check("--leader-elect" not in args and not [r for r in by_kind(objs, "Role")],
              "no --leader-elect and no leader-election Role without leader election")

    check_argocd_health()
    check_flags_known()

    # Every value file under ci/ (chart-testing's convention) renders.
    ci = os.path.join(CHART, "ci")
    for name in sorted(os.listdir(ci)) if os.path.isdir(ci) else []:
        objs, err = render(values=os.path.join(ci, name))
        check(objs is not None, "ci/%s renders" % name, err)

    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

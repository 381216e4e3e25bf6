{{/*
The one list of what the operator may do. The ClusterRole (all namespaces)
and each per-namespace Role (watchNamespaces set) render these same rules;
the leader-election Role below is separate and lives in the release
namespace only. Keep every verb and resource explicit: hack/test.d/50-chart
fails on any "*".

Left out on purpose (add here if the operator starts to need them):
  - pods other than list and pods/log: readiness is read from the
    StatefulSet/Deployment/Job status;
  - namespaces, nodes, endpoints, customresourcedefinitions;
  - secrets create/update: the operator reads credentials, never writes them;
  - secrets list/watch: it reads each Secret it is pointed at by name, and
    keeps it in memory (pkg/secretcache), so it never needs the values of
    every Secret in the cluster.
*/}}
{{- define "posthog-operator.rbacRules" -}}
# The PostHog resources: read and watch them, add and remove the finalizer
# (update/patch on the object, update on posthogs/finalizers where the
# OwnerReferencesPermissionEnforcement admission plugin is on), write status.
- apiGroups: ["posthog.com"]
  resources: ["posthogs"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["posthog.com"]
  resources: ["posthogs/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["posthog.com"]
  resources: ["posthogs/finalizers"]
  verbs: ["update"]
# The backup API (docs/backups.md): read backups, schedules and restores and
# write their status; a schedule creates its PostHogBackups and deletes the
# oldest beyond its backupHistoryLimit (nothing in the store).
- apiGroups: ["posthog.com"]
  resources: ["posthogbackups"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: ["posthog.com"]
  resources: ["posthogbackupschedules", "posthogrestores"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["posthog.com"]
  resources: ["posthogbackups/status", "posthogbackupschedules/status", "posthogrestores/status"]
  verbs: ["get", "update", "patch"]
# The workloads it owns: ZooKeeper, Kafka and ClickHouse StatefulSets,
# plugin-server Deployments, their Services and ConfigMaps. Writes are
# server-side apply (patch); create/update/delete for first creation,
# fallbacks and bucket removal.
- apiGroups: ["apps"]
  resources: ["statefulsets", "deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# ClickHouse, Kafka and backup-store credentials: each Secret read by name.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# A failed migrate Job's pods are found (list) and the tail of their log
# read into the MigrationFailed condition. The stateful pods (ZooKeeper,
# Kafka, ClickHouse; their StatefulSets use OnDelete) are listed and
# deleted one at a time by the health-gated restart plan (docs/upgrades.md).
# The backup controller lists the ClickHouse pods to run each shard's
# agent Job beside a Ready replica (docs/backups.md).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "delete"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# Volume claims are kept unless deletionPolicy is Delete.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "delete"]
# Kafka topic Jobs, and the backup agent's Jobs (one per shard).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Events on PostHog objects: events.k8s.io/v1 with count/series updates,
# and the core group for API servers that only serve v1 events.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rbac.serviceProxy }}
# ClickHouse's HTTP interface through the API server's service proxy: GET
# maps to get, POST to create. Only needed outside the cluster.
- apiGroups: [""]
  resources: ["services/proxy"]
  verbs: ["get", "create"]
{{- end }}
{{- end }}

{{/*
Leader election, in the release namespace only: create the Lease, then get
and update (renew, release) only the operator's own Lease by name. A create
request carries no name the authorizer can check, so it cannot be limited by
resourceNames. Events record leadership changes on the Lease.
*/}}
{{- define "posthog-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "posthog-operator.leaderElectionID" . | quote }}]
  verbs: ["get", "update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

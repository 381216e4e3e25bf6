/*
 * kubectl-posthog: the kubectl plugin. kubectl runs it as `kubectl
 * posthog ...` when it is on PATH. It reads the kubeconfig as kubectl does
 * (pkg/kube: --kubeconfig, then $KUBECONFIG's files merged, then
 * ~/.kube/config; --context or current-context; -n or the context's
 * namespace) and talks to the API server with the operator's own client.
 *
 * Exit status: 0 done, 1 a failure (the API server's message on stderr),
 * 2 bad usage (one line naming the flag).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pkg/kube/kube.h"
#include "pkg/util/util.h"
#include "main-private.h"

static int usage_error(const char *msg)
{
	fprintf(stderr, "kubectl-posthog: %s\n", msg);
	fprintf(stderr, "Run 'kubectl posthog --help' for usage.\n");
	return 2;
}

int kp_fail(const char *what, int err, const struct kube_status *st)
{
	if (st && st->message[0])
		fprintf(stderr, "kubectl-posthog: %s: %s\n", what, st->message);
	else
		fprintf(stderr, "kubectl-posthog: %s: %s\n", what, kube_strerror(err));
	return 1;
}

int kp_print(struct kp_ctx *x, const cJSON *doc,
	     int (*text)(const cJSON *, bool, struct buf *))
{
	struct buf out;
	int r;

	buf_init(&out, (size_t)256 << 20);
	if (x->a.json) {
		char *s = util_nn(cJSON_Print(doc));

		r = buf_append_str(&out, s);
		r = r ? r : buf_append_str(&out, "\n");
		free(s);
	} else {
		r = text(doc, x->color, &out);
	}
	if (!r && fwrite(out.data ? out.data : "", 1, out.len, stdout) != out.len)
		r = -EIO;
	buf_free(&out);
	if (r)
		fprintf(stderr, "kubectl-posthog: writing the output: %s\n", strerror(-r));
	return r ? 1 : 0;
}

/* Resolves a kind of posthog.com/v1alpha1 or another group; -ENOENT when
 * the cluster does not serve it. */
int kp_resolve(struct kp_ctx *x, const char *api_version, const char *kind,
	       struct kube_resource *out)
{
	struct kube_status st = {0};

	return kube_resolve(x->c, api_version, kind, out, &st);
}

/* Lists kind in the namespace; *out NULL when the kind is not served. */
int kp_list(struct kp_ctx *x, const char *api_version, const char *kind,
	    const char *selector, const char *field_selector, cJSON **out)
{
	struct kube_resource res;
	struct kube_list_options lo = {.label_selector = selector, .field_selector = field_selector};
	struct kube_status st = {0};
	char what[160];
	int r;

	*out = NULL;
	if (kp_resolve(x, api_version, kind, &res))
		return 0;
	r = kube_list(x->c, &res, res.namespaced ? x->ns : NULL, &lo, out, &st);
	if (r) {
		snprintf(what, sizeof(what), "listing %s in namespace %s", res.resource, x->ns);
		kp_fail(what, r, &st);
		return r;
	}
	return 0;
}

static int get_posthog(struct kp_ctx *x, cJSON **out)
{
	struct kube_status st = {0};
	char what[400];
	int r;

	if ((r = kube_resolve(x->c, "posthog.com/v1alpha1", "PostHog", &x->posthog_res, &st))) {
		if (r == -ENOENT)
			fprintf(stderr, "kubectl-posthog: this cluster serves no posthog.com/v1alpha1 PostHog: "
				"is the operator's CRD installed?\n");
		else
			kp_fail("discovering posthogs.posthog.com", r, &st);
		return r;
	}
	r = kube_get(x->c, &x->posthog_res, x->ns, x->a.name, out, &st);
	if (r == -ENOENT) {
		fprintf(stderr, "kubectl-posthog: posthog \"%s\" not found in namespace \"%s\"\n",
			x->a.name, x->ns);
		return r;
	}
	if (r) {
		snprintf(what, sizeof(what), "reading posthog %s/%s", x->ns, x->a.name);
		kp_fail(what, r, &st);
	}
	return r;
}

static int cmd_status(struct kp_ctx *x, const cJSON *ph)
{
	char fs[400];
	cJSON *events = NULL, *backups = NULL, *doc;
	int r;

	snprintf(fs, sizeof(fs), "involvedObject.kind=PostHog,involvedObject.name=%s", x->a.name);
	if ((r = kp_list(x, "v1", "Event", NULL, fs, &events)) ||
	    (r = kp_list(x, "posthog.com/v1alpha1", "PostHogBackup", NULL, NULL, &backups))) {
		cJSON_Delete(events);
		return 1;
	}
	doc = kp_status_doc(ph, events, backups, x->a.events);
	r = kp_print(x, doc, kp_status_text);
	cJSON_Delete(doc);
	cJSON_Delete(events);
	cJSON_Delete(backups);
	return r;
}

static int cmd_buckets(struct kp_ctx *x, const cJSON *ph)
{
	struct kp_buckets_options o = {
		.has_team = x->a.has_team, .team = x->a.team, .count = x->a.count,
		.teams_first = x->a.teams_first, .teams_last = x->a.teams_last,
		.max_listed = 100000,
	};
	char err[512];
	cJSON *doc;
	int r;

	if (kp_buckets_doc(ph, &o, &doc, err, sizeof(err))) {
		fprintf(stderr, "kubectl-posthog: %s\n", err);
		return 1;
	}
	r = kp_print(x, doc, kp_buckets_text);
	cJSON_Delete(doc);
	return r;
}

static int cmd_upgrade(struct kp_ctx *x, const cJSON *ph)
{
	char err[2048];
	cJSON *plan;
	int r;

	if (kp_upgrade_plan(ph, x->a.to, &plan, err, sizeof(err))) {
		fprintf(stderr, "kubectl-posthog: %s\n", err);
		return strncmp(err, "--to", 4) ? 1 : 2;
	}
	r = kp_print(x, plan, kp_upgrade_text);
	cJSON_Delete(plan);
	return r;
}

static int cmd_backups(struct kp_ctx *x)
{
	cJSON *list = NULL, *doc;
	int r;

	if (kp_list(x, "posthog.com/v1alpha1", "PostHogBackup", NULL, NULL, &list))
		return 1;
	if (!list) {
		fprintf(stderr, "kubectl-posthog: this cluster serves no PostHogBackup "
			"(posthog.com/v1alpha1): the operator's backup CRDs are not installed\n");
		return 1;
	}
	doc = kp_backups_doc(list, x->a.name);
	r = kp_print(x, doc, kp_backups_text);
	cJSON_Delete(doc);
	cJSON_Delete(list);
	return r;
}

/* Creates obj (backup or restore) and prints what the server returned. */
static int create(struct kp_ctx *x, const char *kind, cJSON *obj)
{
	struct kube_resource res;
	struct kube_status st = {0};
	cJSON *made = NULL;
	char what[400];
	int r;

	if (kp_resolve(x, "posthog.com/v1alpha1", kind, &res)) {
		fprintf(stderr, "kubectl-posthog: this cluster serves no %s (posthog.com/v1alpha1): "
			"the operator's backup CRDs are not installed\n", kind);
		return 1;
	}
	r = kube_create(x->c, &res, x->ns, obj, &made, &st);
	if (r) {
		snprintf(what, sizeof(what), "creating %s %s/%s", kind, x->ns,
			 kp_str(obj, "metadata.name"));
		return kp_fail(what, r, &st);
	}
	if (x->a.json) {
		r = kp_print(x, made, NULL);
	} else {
		printf("%s.posthog.com/%s created\n", res.resource, kp_str(made, "metadata.name"));
		r = 0;
	}
	cJSON_Delete(made);
	return r;
}

static int store_for(struct kp_ctx *x, cJSON **store)
{
	cJSON *schedules = NULL, *backups = NULL;
	char err[512];
	int r;

	if (!x->a.s3_endpoint &&
	    (kp_list(x, "posthog.com/v1alpha1", "PostHogBackupSchedule", NULL, NULL, &schedules) ||
	     kp_list(x, "posthog.com/v1alpha1", "PostHogBackup", NULL, NULL, &backups))) {
		cJSON_Delete(schedules);
		return -EIO;
	}
	r = kp_store(&x->a, schedules, backups, store, err, sizeof(err));
	if (r)
		fprintf(stderr, "kubectl-posthog: %s\n", err);
	cJSON_Delete(schedules);
	cJSON_Delete(backups);
	return r;
}

static int cmd_backup(struct kp_ctx *x, const cJSON *ph)
{
	cJSON *store, *obj;
	int r;

	if (store_for(x, &store))
		return 1;
	obj = kp_backup_object(ph, x->a.object_name, store, time(NULL));
	r = create(x, "PostHogBackup", obj);
	cJSON_Delete(obj);
	cJSON_Delete(store);
	return r;
}

static int cmd_restore(struct kp_ctx *x, const cJSON *ph)
{
	struct kube_resource res;
	struct kube_status st = {0};
	cJSON *store = NULL, *backup = NULL, *obj;
	int r;

	/* The backup's own store, when it is a PostHogBackup of this cluster. */
	if (!x->a.s3_endpoint && !kp_resolve(x, "posthog.com/v1alpha1", "PostHogBackup", &res) &&
	    !kube_get(x->c, &res, x->ns, x->a.backup, &backup, &st) &&
	    cJSON_IsObject(kp_get(backup, "spec.store")))
		store = cJSON_Duplicate(kp_get(backup, "spec.store"), 1);
	cJSON_Delete(backup);
	if (!store && store_for(x, &store))
		return 1;
	obj = kp_restore_object(ph, x->a.object_name, x->a.backup, store, x->a.replay_kafka,
				time(NULL));
	r = create(x, "PostHogRestore", obj);
	cJSON_Delete(obj);
	cJSON_Delete(store);
	return r;
}

static int cmd_reshard(struct kp_ctx *x, const cJSON *ph)
{
	cJSON *doc = kp_reshard_doc(ph);
	int r = kp_print(x, doc, kp_reshard_text);

	cJSON_Delete(doc);
	return r;
}

static int kp_connect(struct kp_ctx *x)
{
	struct kube_config_options co = {.kubeconfig = x->a.kubeconfig, .context = x->a.context};
	struct kube_client_options cl = {.user_agent = "kubectl-posthog/" PHO_VERSION,
					 .retry_budget_ms = 10000, .qps = -1};
	struct kube_config *cfg = NULL;
	int r;

	if (log_new(2, LOG_WARN, LOG_FORMAT_TEXT, &x->log))
		return -ENOMEM;
	co.log = x->log;
	cl.log = x->log;
	if ((r = kube_config_load(&co, &cfg))) {
		if (r == -ENOENT && (x->a.kubeconfig || getenv("KUBECONFIG")))
			fprintf(stderr, "kubectl-posthog: %s %s: no such kubeconfig\n",
				x->a.kubeconfig ? "--kubeconfig" : "$KUBECONFIG",
				x->a.kubeconfig ? x->a.kubeconfig : getenv("KUBECONFIG"));
		else if (r == -ENOENT)
			fprintf(stderr, "kubectl-posthog: no kubeconfig found: set --kubeconfig or $KUBECONFIG\n");
		else
			fprintf(stderr, "kubectl-posthog: the kubeconfig%s%s is invalid (see above)\n",
				x->a.context ? " or --context " : "", x->a.context ? x->a.context : "");
		return r;
	}
	x->ns = x->a.ns ? x->a.ns : kube_config_namespace(cfg);
	if ((r = kube_client_new(cfg, &cl, &x->c)))
		fprintf(stderr, "kubectl-posthog: cannot create the API client: %s\n", kube_strerror(r));
	return r;
}

static int run(struct kp_ctx *x)
{
	cJSON *ph = NULL;
	int r;

	if (kp_connect(x))
		return 1;
	if (get_posthog(x, &ph))
		return 1;
	switch (x->a.cmd) {
	case KP_CMD_STATUS: r = cmd_status(x, ph); break;
	case KP_CMD_BUCKETS: r = cmd_buckets(x, ph); break;
	case KP_CMD_UPGRADE: r = cmd_upgrade(x, ph); break;
	case KP_CMD_BACKUP: r = cmd_backup(x, ph); break;
	case KP_CMD_BACKUPS: r = cmd_backups(x); break;
	case KP_CMD_RESTORE: r = cmd_restore(x, ph); break;
	case KP_CMD_RESHARD: r = cmd_reshard(x, ph); break;
	case KP_CMD_REPORT: r = kp_cmd_report(x, ph); break;
	default: r = 2; break;
	}
	cJSON_Delete(ph);
	return r;
}

int main(int argc, char **argv)
{
	struct kp_ctx x = {0};
	char err[512];
	int r;

	if (kp_parse_args(argc, argv, &x.a, err, sizeof(err)))
		return usage_error(err);
	if (x.a.cmd == KP_CMD_HELP) {
		fputs(kp_usage(), stdout);
		return 0;
	}
	if (x.a.cmd == KP_CMD_VERSION) {
		printf("kubectl-posthog %s\n", PHO_VERSION);
		return 0;
	}
	x.color = x.a.color == KP_COLOR_ALWAYS ||
		  (x.a.color == KP_COLOR_AUTO && isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
	r = run(&x);
	kube_client_free(x.c);
	log_free(x.log);
	return r;
}

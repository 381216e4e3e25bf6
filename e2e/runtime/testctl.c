/*
 * runtime-testctl: the controller runtime with a trivial ConfigMap
 * controller, for the integration tests in this folder. It takes the
 * operator's flags (see operator/flags.h) and reconciles ConfigMaps
 * labelled runtime-test=true:
 *   - appends "<identity> <namespace/name> <data.v>" (or "... deleted") to
 *     the file named by $RUNTIME_TEST_RECORD, one write(2) per line;
 *   - sets the annotations runtime-test/observed=<data.v> and
 *     runtime-test/by=<identity> with a merge patch when they differ;
 *   - fails (and so retries with backoff) while data.fail is "true".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "operator/flags.h"

static const struct kube_resource configmaps = {
	.group = "", .version = "v1", .resource = "configmaps",
	.kind = "ConfigMap", .namespaced = true,
};

struct testctl {
	struct manager *m;
	struct kube_client *client;
	struct informer *inf;
	struct log *log;
	int record_fd;
};

static const char *str_in(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, a), b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void record(struct testctl *t, const char *key, const char *what)
{
	if (t->record_fd < 0)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s %s %s\n", manager_identity(t->m), key, what);
	if (n > 0 && (size_t)n < sizeof(line) && write(t->record_fd, line, (size_t)n) < 0)
		log_warn(t->log, "testctl: record: %s", strerror(errno));
}

static int reconcile(void *ud, const char *key, struct reconcile_result *res)
{
	struct testctl *t = ud;
	char ns[256];
	const char *slash = strchr(key, '/');
	if (!slash || (size_t)(slash - key) >= sizeof(ns))
		return -EINVAL;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	cJSON *cm = informer_get(t->inf, ns, slash + 1);
	if (!cm) {
		record(t, key, "deleted");
		return 0;
	}
	const char *v = str_in(cm, "data", "v");
	const char *fail = str_in(cm, "data", "fail");
	int rc = 0;
	if (fail && !strcmp(fail, "true")) {
		record(t, key, "failing");
		rc = -EIO;
		goto out;
	}
	record(t, key, v ? v : "-");
	const char *seen = str_in(cJSON_GetObjectItemCaseSensitive(cm, "metadata"),
				  "annotations", "runtime-test/observed");
	if (v && (!seen || strcmp(seen, v) != 0)) {
		cJSON *patch = cJSON_CreateObject();
		cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"),
						     "annotations");
		cJSON_AddStringToObject(ann, "runtime-test/observed", v);
		cJSON_AddStringToObject(ann, "runtime-test/by", manager_identity(t->m));
		struct kube_status st = { 0 };
		rc = kube_merge_patch(t->client, &configmaps, ns, slash + 1, NULL, patch,
				      NULL, &st);
		cJSON_Delete(patch);
		if (rc == -ENOENT)
			rc = 0;
	}
out:
	cJSON_Delete(cm);
	return rc;
}

int main(int argc, char **argv)
{
	struct op_flags f;
	char err[512];
	if (op_flags_parse(argc, argv, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "runtime-testctl: %s\n", err);
		return 2;
	}
	op_block_signals();
	struct testctl t = { .record_fd = -1 };
	struct metrics *metrics;
	if (op_observe(&f, &t.log, &metrics) < 0)
		return 1;
	const char *path = getenv("RUNTIME_TEST_RECORD");
	if (path)
		t.record_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	int status = 1;
	if (op_connect(&f, t.log, metrics, &t.client) < 0)
		goto out;
	struct manager_options mo;
	op_manager_options(&f, t.client, t.log, metrics, &mo);
	if (manager_new(&mo, &t.m) < 0)
		goto out;
	struct informer_options io = {
		.resource = configmaps,
		.namespace = f.nnamespaces ? f.namespaces[0] : NULL,
		.label_selector = "runtime-test=true",
	};
	struct controller *ctl;
	struct controller_options co = { .name = "configmap", .reconcile = reconcile,
					 .userdata = &t, .workers = f.workers };
	if (manager_add_informer(t.m, &io, &t.inf) < 0 ||
	    manager_add_controller(t.m, &co, &ctl) < 0 ||
	    controller_watch(ctl, t.inf, CONTROLLER_MAP_SELF, NULL) < 0)
		goto out;
	log_info(t.log, "runtime-testctl starting as %s", manager_identity(t.m));
	status = op_serve(t.m, &f, t.log);
out:
	manager_free(t.m);
	kube_client_free(t.client);
	metrics_free(metrics);
	if (t.record_fd >= 0)
		close(t.record_fd);
	log_free(t.log);
	return status;
}

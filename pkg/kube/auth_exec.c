/*
 * Exec credential plugins (client.authentication.k8s.io v1 and v1beta1),
 * as used by EKS, GKE and DOKS kubeconfigs.
 *
 * The plugin gets KUBERNETES_EXEC_INFO (an ExecCredential with
 * spec.interactive=false, and spec.cluster when provideClusterInfo), its
 * stdin is /dev/null, and it prints an ExecCredential whose status holds
 * a token or a client certificate and key, optionally with an
 * expirationTimestamp. The result is cached until that time, or until the
 * server answers 401. The caller holds cfg->lock, so concurrent requests
 * wait for one run instead of starting several.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube-private.h"

extern char **environ;

#define MAX_STDERR 4096

void kube_exec_free(struct kube_exec *ex)
{
	if (!ex)
		return;
	for (char **p = ex->argv; p && *p; p++)
		free(*p);
	for (char **p = ex->env; p && *p; p++)
		kube_secret_free_str(*p);
	free(ex->argv);
	free(ex->env);
	free(ex->api_version);
	free(ex->command);
	free(ex);
}

static cJSON *cluster_info(const struct kube_config *cfg)
{
	cJSON *cl = cJSON_CreateObject();
	cJSON_AddStringToObject(cl, "server", cfg->server);
	if (cfg->tls_server_name)
		cJSON_AddStringToObject(cl, "tls-server-name",
					cfg->tls_server_name);
	if (cfg->insecure)
		cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
	if (cfg->ca.len) {
		/* []byte fields travel as base64 in JSON. */
		char *b64 = kube_base64_encode(cfg->ca.data, cfg->ca.len);
		cJSON_AddStringToObject(cl, "certificate-authority-data", b64);
		free(b64);
	}
	if (cfg->proxy_url)
		cJSON_AddStringToObject(cl, "proxy-url", cfg->proxy_url);
	return cl;
}

char *kube_exec_info(const struct kube_config *cfg)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "apiVersion", cfg->exec->api_version);
	cJSON_AddStringToObject(root, "kind", "ExecCredential");
	cJSON *spec = cJSON_AddObjectToObject(root, "spec");
	cJSON_AddBoolToObject(spec, "interactive", 0);
	if (cfg->exec->provide_cluster_info)
		cJSON_AddItemToObject(spec, "cluster", cluster_info(cfg));
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		abort();
	return s;
}

static int parse_status(const cJSON *status, struct kube_creds *cr,
			time_t *expiry, struct log *log)
{
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(status, "token");
	const cJSON *crt =
		cJSON_GetObjectItemCaseSensitive(status, "clientCertificateData");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(status, "clientKeyData");
	const cJSON *exp =
		cJSON_GetObjectItemCaseSensitive(status, "expirationTimestamp");
	bool has_tok = cJSON_IsString(tok) && tok->valuestring[0];
	bool has_crt = cJSON_IsString(crt) && crt->valuestring[0];
	bool has_key = cJSON_IsString(key) && key->valuestring[0];
	if (has_crt != has_key || (!has_tok && !has_crt)) {
		log_error(log, "exec plugin: status needs a token or both "
			       "clientCertificateData and clientKeyData");
		return -EACCES;
	}
	*expiry = 0;
	if (cJSON_IsString(exp) && exp->valuestring[0] &&
	    kube_parse_rfc3339(exp->valuestring, expiry)) {
		log_error(log, "exec plugin: invalid expirationTimestamp");
		return -EACCES;
	}
	if (has_tok)
		cr->token = util_xstrdup(tok->valuestring);
	if (has_crt) {
		kube_blob_set(&cr->cert, crt->valuestring, strlen(crt->valuestring));
		kube_blob_set(&cr->key, key->valuestring, strlen(key->valuestring));
	}
	return 0;
}

int kube_exec_parse(const char *api_version, const char *text, size_t len,
		    struct kube_creds *out, time_t *expiry, struct log *log)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
	const cJSON *api = cJSON_GetObjectItemCaseSensitive(doc, "apiVersion");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
	int err = -EACCES;
	if (!doc)
		log_error(log, "exec plugin: output is not JSON");
	else if (!cJSON_IsString(kind) || strcmp(kind->valuestring,
						 "ExecCredential"))
		log_error(log, "exec plugin: output is not an ExecCredential");
	else if (!cJSON_IsString(api) || strcmp(api->valuestring, api_version))
		log_error(log, "exec plugin: configured for %s but answered "
			       "with another apiVersion", api_version);
	else if (!cJSON_IsObject(status))
		log_error(log, "exec plugin: output has no status");
	else
		err = parse_status(status, out, expiry, log);
	cJSON_Delete(doc);
	return err;
}

/* The child's environment: ours, overridden by the kubeconfig's entries,
 * plus KUBERNETES_EXEC_INFO. */
static char **child_env(const struct kube_exec *ex, const char *info_var)
{
	size_t n = 0, m = 0;
	for (char **p = environ; p && *p; p++)
		n++;
	for (char **p = ex->env; p && *p; p++)
		m++;
	char **env = util_xcalloc(n + m + 2, sizeof(*env));
	size_t k = 0;
	for (char **p = environ; p && *p; p++) {
		bool overridden = !strncmp(*p, "KUBERNETES_EXEC_INFO=", 21);
		for (char **q = ex->env; q && *q && !overridden; q++) {
			size_t nl = (size_t)(strchr(*q, '=') - *q);
			overridden = !strncmp(*p, *q, nl + 1);
		}
		if (!overridden)
			env[k++] = *p;
	}
	for (char **q = ex->env; q && *q; q++)
		env[k++] = *q;
	env[k++] = (char *)info_var;
	return env;
}

struct child_io {
	struct buf out;
	struct buf err;
};

/* Reads both pipes until EOF or the deadline. Returns 0, -ETIMEDOUT or
 * -EFBIG. */
static int read_child(int out_fd, int err_fd, unsigned timeout_ms,
		      struct child_io *io)
{
	struct pollfd pf[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	uint64_t deadline = kube_now_ms() + timeout_ms;
	int open_fds = 2;
	while (open_fds) {
		uint64_t now = kube_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		int r = poll(pf, 2, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			char chunk[4096];
			ssize_t n = read(pf[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pf[i].fd = -1;
				open_fds--;
				continue;
			}
			struct buf *b = i == 0 ? &io->out : &io->err;
			/* stderr is only for the log: drop what overflows. */
			if (buf_append(b, chunk, (size_t)n) < 0 && i == 0)
				return -EFBIG;
		}
	}
	return 0;
}

static int spawn(const struct kube_exec *ex, char **env, int *out_fd,
		 int *err_fd, pid_t *pid)
{
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int err = -errno;
		close(po[0]);
		close(po[1]);
		return err;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	int rc = strchr(ex->command, '/') ?
			 posix_spawn(pid, ex->command, &fa, NULL, ex->argv, env) :
			 posix_spawnp(pid, ex->command, &fa, NULL, ex->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	if (rc) {
		close(po[0]);
		close(pe[0]);
		return -rc;
	}
	*out_fd = po[0];
	*err_fd = pe[0];
	return 0;
}

/* Runs the plugin; on success io->out holds its stdout. */
static int run_plugin(struct kube_config *cfg, struct child_io *io)
{
	const struct kube_exec *ex = cfg->exec;
	char *info = kube_exec_info(cfg);
	size_t vlen = strlen(info) + sizeof("KUBERNETES_EXEC_INFO=");
	char *var = util_xmalloc(vlen);
	snprintf(var, vlen, "KUBERNETES_EXEC_INFO=%s", info);
	free(info);
	char **env = child_env(ex, var);
	int out_fd = -1, err_fd = -1, status = 0;
	pid_t pid;
	int err = spawn(ex, env, &out_fd, &err_fd, &pid);
	free(env);
	free(var);
	if (err) {
		log_error(cfg->log, "exec plugin %s: %s", ex->command,
			  strerror(-err));
		return -EACCES;
	}
	err = read_child(out_fd, err_fd, cfg->exec_timeout_ms, io);
	if (err)
		kill(pid, SIGKILL);
	close(out_fd);
	close(err_fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (err) {
		log_error(cfg->log, "exec plugin %s: %s", ex->command,
			  err == -ETIMEDOUT ? "timed out" : "output too large");
		return -EACCES;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		/* stderr is the plugin's explanation; the log redacts it. */
		log_error(cfg->log, "exec plugin %s failed (status %d): %.*s",
			  ex->command,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			  (int)io->err.len, buf_str(&io->err));
		return -EACCES;
	}
	return 0;
}

int kube_exec_refresh(struct kube_config *cfg)
{
	struct child_io io;
	buf_init(&io.out, KUBE_MAX_EXEC_OUTPUT);
	buf_init(&io.err, MAX_STDERR);
	struct kube_creds cr = { 0 };
	time_t expiry = 0;
	cfg->exec_runs++;
	int err = run_plugin(cfg, &io);
	if (!err)
		err = kube_exec_parse(cfg->exec->api_version, buf_str(&io.out),
				      io.out.len, &cr, &expiry, cfg->log);
	kube_secret_free(io.out.data, io.out.len);
	buf_free(&io.err);
	if (err)
		return err;
	kube_secret_free_str(cfg->exec_token);
	cfg->exec_token = cr.token;
	cr.token = NULL;
	kube_blob_clear(&cfg->exec_cert);
	kube_blob_clear(&cfg->exec_key);
	cfg->exec_cert = cr.cert;
	cfg->exec_key = cr.key;
	cr.cert = (struct kube_blob){ 0 };
	cr.key = (struct kube_blob){ 0 };
	cfg->exec_expiry = expiry;
	cfg->exec_valid = true;
	kube_creds_free(&cr);
	return 0;
}

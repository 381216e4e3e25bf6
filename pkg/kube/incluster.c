/*
 * In-cluster configuration and the credentials handed to each request.
 *
 * Bound service-account tokens rotate (the kubelet rewrites the file well
 * before expiry), so the token is read from the file, not kept: the cached
 * copy is re-read when older than token_file_ttl, and at once after a 401.
 * The same applies to a kubeconfig user's tokenFile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = util_xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Trims trailing whitespace in place (files usually end in '\n'). */
static void trim(char *s, size_t *len)
{
	while (*len && (s[*len - 1] == '\n' || s[*len - 1] == '\r' ||
			s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		s[--*len] = '\0';
}

static int server_url(struct log *log, char **out)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !host[0] || !port || !port[0]) {
		log_error(log, "in-cluster: KUBERNETES_SERVICE_HOST and "
			       "KUBERNETES_SERVICE_PORT must be set");
		return -ENOENT;
	}
	size_t n = strlen(host) + strlen(port) + 16;
	char *url = util_xmalloc(n);
	/* An IPv6 service address needs brackets in a URL. */
	if (strchr(host, ':'))
		snprintf(url, n, "https://[%s]:%s", host, port);
	else
		snprintf(url, n, "https://%s:%s", host, port);
	*out = url;
	return 0;
}

int kube_config_incluster(const char *sa_dir, struct log *log,
			  struct kube_config **out)
{
	const char *dir = sa_dir ? sa_dir : SA_DIR;
	struct kube_config *cfg = kube_config_alloc(log);
	char *path = NULL, *text = NULL;
	size_t len;
	int err = server_url(log, &cfg->server);
	if (err)
		goto fail;
	path = join(dir, "ca.crt");
	err = kube_read_file(path, KUBE_MAX_FILE, &text, &len);
	if (err) {
		log_error(log, "in-cluster: %s: %s", path, strerror(-err));
		goto fail;
	}
	cfg->ca.data = (unsigned char *)text;
	cfg->ca.len = len;
	free(path);
	/* The token must be there now; later reads pick up rotations. */
	cfg->token_file = join(dir, "token");
	err = kube_read_file(cfg->token_file, KUBE_MAX_FILE, &text, &len);
	if (err) {
		log_error(log, "in-cluster: %s: %s", cfg->token_file,
			  strerror(-err));
		path = NULL;
		goto fail;
	}
	kube_secret_free(text, len);
	path = join(dir, "namespace");
	if (kube_read_file(path, 4096, &text, &len) == 0) {
		trim(text, &len);
		cfg->namespace = text;
	}
	free(path);
	if (!cfg->namespace || !cfg->namespace[0]) {
		free(cfg->namespace);
		cfg->namespace = util_xstrdup("default");
	}
	*out = cfg;
	return 0;
fail:
	free(path);
	kube_config_free(cfg);
	return err == -ENOENT ? -ENOENT : -EINVAL;
}

void kube_creds_free(struct kube_creds *cr)
{
	kube_secret_free_str(cr->token);
	kube_secret_free_str(cr->username);
	kube_secret_free_str(cr->password);
	kube_blob_clear(&cr->cert);
	kube_blob_clear(&cr->key);
	memset(cr, 0, sizeof(*cr));
}

/* Lock held. */
static int refresh_token_file(struct kube_config *cfg, time_t now)
{
	if (cfg->file_token && now >= cfg->file_token_at &&
	    now - cfg->file_token_at < (time_t)cfg->token_file_ttl)
		return 0;
	char *text;
	size_t len;
	int err = kube_read_file(cfg->token_file, KUBE_MAX_FILE, &text, &len);
	if (err) {
		/* Keep using the last token: the file may be mid-rotation. */
		log_error(cfg->log, "kube: token file %s: %s", cfg->token_file,
			  strerror(-err));
		return cfg->file_token ? 0 : -EACCES;
	}
	trim(text, &len);
	kube_secret_free_str(cfg->file_token);
	cfg->file_token = text;
	cfg->file_token_at = now;
	return 0;
}

/* Lock held. */
static int refresh_exec(struct kube_config *cfg, time_t now)
{
	if (cfg->exec_valid && (cfg->exec_expiry == 0 || now < cfg->exec_expiry))
		return 0;
	return kube_exec_refresh(cfg);
}

static void copy_creds(const struct kube_config *cfg, struct kube_creds *out)
{
	if (cfg->exec && (cfg->exec_token || cfg->exec_cert.len)) {
		out->token = util_xstrdup(cfg->exec_token);
		kube_blob_copy(&out->cert, &cfg->exec_cert);
		kube_blob_copy(&out->key, &cfg->exec_key);
	}
	/* Static settings fill what the plugin did not provide. */
	if (!out->token)
		out->token = util_xstrdup(cfg->token ? cfg->token :
						       cfg->file_token);
	if (!out->cert.len) {
		kube_blob_copy(&out->cert, &cfg->cert);
		kube_blob_copy(&out->key, &cfg->key);
	}
	out->username = util_xstrdup(cfg->username);
	out->password = util_xstrdup(cfg->password);
}

int kube_config_credentials(struct kube_config *cfg, struct kube_creds *out)
{
	int err = 0;
	pthread_mutex_lock(&cfg->lock);
	time_t now = kube_config_now(cfg);
	if (cfg->token_file && !cfg->token)
		err = refresh_token_file(cfg, now);
	if (!err && cfg->exec)
		err = refresh_exec(cfg, now);
	if (!err)
		copy_creds(cfg, out);
	pthread_mutex_unlock(&cfg->lock);
	return err;
}

bool kube_config_invalidate(struct kube_config *cfg)
{
	bool changed = false;
	pthread_mutex_lock(&cfg->lock);
	if (cfg->token_file && !cfg->token) {
		kube_secret_free_str(cfg->file_token);
		cfg->file_token = NULL;
		changed = true;
	}
	if (cfg->exec) {
		cfg->exec_valid = false;
		changed = true;
	}
	pthread_mutex_unlock(&cfg->lock);
	return changed;
}

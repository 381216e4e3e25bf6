/*
 * kubeconfig: loading, merging and resolving one context.
 *
 * Merging follows client-go's clientcmd: files are read in order, and for
 * each named cluster, user and context (and for current-context) the first
 * file that defines it wins, whole; entries are never merged field by
 * field. So instead of building a merged document we look each name up in
 * the files in order, which also tells us which file's directory relative
 * paths resolve against.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/jsonyaml/jsonyaml.h"
#include "kube-private.h"

/* What the resolver needs to report an error: the file and the entry. */
struct where {
	struct log *log;
	const char *file; /* NULL: in memory */
	const char *what; /* e.g. "cluster \"prod\"" */
};

__attribute__((format(printf, 2, 3)))
static int invalid(const struct where *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error(w->log, "kubeconfig %s: %s: %s",
		  w->file ? w->file : "(in memory)", w->what, msg);
	return -EINVAL;
}

struct kube_config *kube_config_alloc(struct log *log)
{
	struct kube_config *cfg = util_xcalloc(1, sizeof(*cfg));
	cfg->log = log;
	cfg->token_file_ttl = 60;
	cfg->exec_timeout_ms = 60000;
	pthread_mutex_init(&cfg->lock, NULL);
	return cfg;
}

void kube_config_free(struct kube_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->namespace);
	free(cfg->tls_server_name);
	free(cfg->proxy_url);
	kube_blob_clear(&cfg->ca);
	kube_secret_free_str(cfg->token);
	free(cfg->token_file);
	free(cfg->username);
	kube_secret_free_str(cfg->password);
	kube_blob_clear(&cfg->cert);
	kube_blob_clear(&cfg->key);
	kube_exec_free(cfg->exec);
	kube_secret_free_str(cfg->file_token);
	kube_secret_free_str(cfg->exec_token);
	kube_blob_clear(&cfg->exec_cert);
	kube_blob_clear(&cfg->exec_key);
	pthread_mutex_destroy(&cfg->lock);
	free(cfg);
}

time_t kube_config_now(const struct kube_config *cfg)
{
	return cfg->clock ? cfg->clock(cfg->clock_userdata) : time(NULL);
}

const char *kube_config_server(const struct kube_config *cfg)
{
	return cfg->server;
}

const char *kube_config_namespace(const struct kube_config *cfg)
{
	return cfg->namespace ? cfg->namespace : "default";
}

/* A string field: 0 with *out NULL when absent or empty, -EINVAL when of
 * another type. */
static int get_str(const struct where *w, const cJSON *obj, const char *key,
		   const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return invalid(w, "%s must be a string", key);
	if (v->valuestring[0])
		*out = v->valuestring;
	return 0;
}

static int get_bool(const struct where *w, const cJSON *obj, const char *key,
		    bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return invalid(w, "%s must be a boolean", key);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* Relative paths resolve against the directory of the defining file. */
static char *resolve_path(const char *file, const char *path)
{
	const char *slash = file ? strrchr(file, '/') : NULL;
	if (path[0] == '/' || !slash)
		return util_xstrdup(path);
	size_t dlen = (size_t)(slash - file);
	size_t n = dlen + 1 + strlen(path) + 1;
	char *p = util_xmalloc(n);
	snprintf(p, n, "%.*s/%s", (int)dlen, file, path);
	return p;
}

/* Loads a PEM from the -data field (base64) or else the file field. */
static int load_pem(const struct where *w, const cJSON *obj,
		    const char *data_key, const char *file_key,
		    struct kube_blob *out)
{
	const char *data, *file;
	int err = get_str(w, obj, data_key, &data);
	if (!err)
		err = get_str(w, obj, file_key, &file);
	if (err)
		return err;
	if (data) {
		unsigned char *raw;
		size_t len;
		if (kube_base64_decode(data, strlen(data), &raw, &len))
			return invalid(w, "%s is not valid base64", data_key);
		kube_blob_clear(out);
		out->data = raw;
		out->len = len;
		return 0;
	}
	if (!file)
		return 0;
	char *path = resolve_path(w->file, file);
	char *text;
	size_t len;
	err = kube_read_file(path, KUBE_MAX_FILE, &text, &len);
	if (err) {
		err = invalid(w, "%s %s: %s", file_key, path, strerror(-err));
		free(path);
		return err;
	}
	free(path);
	kube_blob_clear(out);
	out->data = (unsigned char *)text;
	out->len = len;
	return 0;
}

static int parse_cluster(struct kube_config *cfg, const struct where *w,
			 const cJSON *cl)
{
	const char *server, *sni, *proxy;
	int err = get_str(w, cl, "server", &server);
	if (!err)
		err = get_str(w, cl, "tls-server-name", &sni);
	if (!err)
		err = get_str(w, cl, "proxy-url", &proxy);
	if (!err)
		err = get_bool(w, cl, "insecure-skip-tls-verify", &cfg->insecure);
	if (!err)
		err = load_pem(w, cl, "certificate-authority-data",
			       "certificate-authority", &cfg->ca);
	if (err)
		return err;
	if (!server)
		return invalid(w, "server is required");
	if (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))
		return invalid(w, "server must be an http(s) URL");
	/* client-go refuses the combination: it would silently ignore the
	 * CA the user asked for. */
	if (cfg->insecure && cfg->ca.len)
		return invalid(w, "certificate-authority with "
				  "insecure-skip-tls-verify is not allowed");
	size_t n = strlen(server);
	while (n > 8 && server[n - 1] == '/')
		n--;
	cfg->server = util_xstrndup(server, n);
	cfg->tls_server_name = util_xstrdup(sni);
	cfg->proxy_url = util_xstrdup(proxy);
	return 0;
}

static char **string_array(const struct where *w, const cJSON *arr,
			   const char *key, const char *first, int *err)
{
	size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
	char **v = util_xcalloc(n + 2, sizeof(*v));
	size_t i = 0;
	if (first)
		v[i++] = util_xstrdup(first);
	/* cJSON_ArrayForEach walks an object's members too: a mapping where a
	 * list belongs must be refused before it overruns v. */
	if (arr && !cJSON_IsNull(arr) && !cJSON_IsArray(arr)) {
		*err = invalid(w, "%s must be a list of strings", key);
		return v;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e)) {
			*err = invalid(w, "%s must be a list of strings", key);
			break;
		}
		v[i++] = util_xstrdup(e->valuestring);
	}
	return v;
}

static char **exec_env(const struct where *w, const cJSON *arr, int *err)
{
	size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
	char **v = util_xcalloc(n + 1, sizeof(*v));
	size_t i = 0;
	if (arr && !cJSON_IsNull(arr) && !cJSON_IsArray(arr)) {
		*err = invalid(w, "exec.env must be a list of {name, value}");
		return v;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		const char *name, *value;
		if (get_str(w, e, "name", &name) ||
		    get_str(w, e, "value", &value) || !name ||
		    strchr(name, '=')) {
			*err = invalid(w, "exec.env entries need a name and "
					  "a value");
			break;
		}
		size_t len = strlen(name) + (value ? strlen(value) : 0) + 2;
		v[i] = util_xmalloc(len);
		snprintf(v[i++], len, "%s=%s", name, value ? value : "");
	}
	return v;
}

static int parse_exec(struct kube_config *cfg, const struct where *w,
		      const cJSON *ex)
{
	const char *api, *cmd, *mode;
	int err = get_str(w, ex, "apiVersion", &api);
	if (!err)
		err = get_str(w, ex, "command", &cmd);
	if (!err)
		err = get_str(w, ex, "interactiveMode", &mode);
	if (err)
		return err;
	if (!api || (strcmp(api, "client.authentication.k8s.io/v1") &&
		     strcmp(api, "client.authentication.k8s.io/v1beta1")))
		return invalid(w, "exec.apiVersion must be "
				  "client.authentication.k8s.io/v1 or v1beta1");
	if (!cmd)
		return invalid(w, "exec.command is required");
	/* We never have a terminal to offer. */
	if (mode && !strcmp(mode, "Always"))
		return invalid(w, "exec.interactiveMode Always is not supported");
	struct kube_exec *e = util_xcalloc(1, sizeof(*e));
	cfg->exec = e;
	e->api_version = util_xstrdup(api);
	/* As client-go: only a command with a '/' is a path relative to the
	 * kubeconfig; a bare name is looked up in PATH. */
	e->command = strchr(cmd, '/') ? resolve_path(w->file, cmd) :
					util_xstrdup(cmd);
	e->argv = string_array(w, cJSON_GetObjectItemCaseSensitive(ex, "args"),
			       "exec.args", e->command, &err);
	if (!err)
		e->env = exec_env(w, cJSON_GetObjectItemCaseSensitive(ex, "env"),
				  &err);
	if (!err)
		err = get_bool(w, ex, "provideClusterInfo",
			       &e->provide_cluster_info);
	return err;
}

static int parse_user(struct kube_config *cfg, const struct where *w,
		      const cJSON *u)
{
	const char *token, *token_file, *user, *pass;
	int err = get_str(w, u, "token", &token);
	if (!err)
		err = get_str(w, u, "tokenFile", &token_file);
	if (!err)
		err = get_str(w, u, "username", &user);
	if (!err)
		err = get_str(w, u, "password", &pass);
	if (!err)
		err = load_pem(w, u, "client-certificate-data",
			       "client-certificate", &cfg->cert);
	if (!err)
		err = load_pem(w, u, "client-key-data", "client-key", &cfg->key);
	if (err)
		return err;
	if (cJSON_GetObjectItemCaseSensitive(u, "auth-provider"))
		return invalid(w, "auth-provider plugins are not supported; "
				  "use an exec plugin");
	if ((token || token_file) && (user || pass))
		return invalid(w, "a token and basic auth cannot both be set");
	if (!cfg->cert.len != !cfg->key.len)
		return invalid(w, "client-certificate and client-key go "
				  "together");
	cfg->token = util_xstrdup(token);
	if (!token && token_file)
		cfg->token_file = resolve_path(w->file, token_file);
	cfg->username = util_xstrdup(user);
	cfg->password = util_xstrdup(pass);
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(u, "exec");
	if (ex && !cJSON_IsNull(ex))
		return parse_exec(cfg, w, ex);
	return 0;
}

/* The first document defining name in the list key wins. */
static const cJSON *find_named(const cJSON *const *docs, size_t n,
			       const char *list, const char *field,
			       const char *name, size_t *which)
{
	for (size_t i = 0; i < n; i++) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(docs[i], list);
		const cJSON *e;
		const cJSON *items = cJSON_IsArray(arr) ? arr : NULL;
		cJSON_ArrayForEach(e, items) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
			if (!cJSON_IsString(nm) || strcmp(nm->valuestring, name))
				continue;
			*which = i;
			const cJSON *body = cJSON_GetObjectItemCaseSensitive(e, field);
			return cJSON_IsObject(body) ? body : e;
		}
	}
	return NULL;
}

static const char *current_context(const cJSON *const *docs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const cJSON *v =
			cJSON_GetObjectItemCaseSensitive(docs[i], "current-context");
		if (cJSON_IsString(v) && v->valuestring[0])
			return v->valuestring;
	}
	return NULL;
}

/* The parts of a context, looked up by name. */
struct ctx_parts {
	const char *cluster;
	const char *user;
	const char *ns;
};

static int resolve_context(const cJSON *const *docs, const char *const *files,
			   size_t n, const char *name, struct log *log,
			   struct ctx_parts *p)
{
	size_t at = 0;
	struct where w = { log, n ? files[0] : NULL, "context" };
	const cJSON *ctx = find_named(docs, n, "contexts", "context", name, &at);
	if (!ctx)
		return invalid(&w, "context \"%s\" not found", name);
	w.file = files[at];
	int err = get_str(&w, ctx, "cluster", &p->cluster);
	if (!err)
		err = get_str(&w, ctx, "user", &p->user);
	if (!err)
		err = get_str(&w, ctx, "namespace", &p->ns);
	if (!err && !p->cluster)
		err = invalid(&w, "context \"%s\" names no cluster", name);
	return err;
}

int kube_config_from_docs(const cJSON *const *docs, const char *const *files,
			  size_t n, const char *context, struct log *log,
			  struct kube_config **out)
{
	struct where w = { log, n ? files[0] : NULL, "current-context" };
	const char *name = context ? context : current_context(docs, n);
	if (!name)
		return invalid(&w, "no context given and no current-context");
	struct ctx_parts p = { 0 };
	int err = resolve_context(docs, files, n, name, log, &p);
	if (err)
		return err;
	struct kube_config *cfg = kube_config_alloc(log);
	size_t at = 0;
	const cJSON *cl = find_named(docs, n, "clusters", "cluster", p.cluster, &at);
	w = (struct where){ log, files[at], "cluster" };
	err = cl ? parse_cluster(cfg, &w, cl) :
		   invalid(&w, "cluster \"%s\" not found", p.cluster);
	if (!err && p.user) {
		const cJSON *u = find_named(docs, n, "users", "user", p.user, &at);
		w = (struct where){ log, files[at], "user" };
		err = u ? parse_user(cfg, &w, u) :
			  invalid(&w, "user \"%s\" not found", p.user);
	}
	if (err) {
		kube_config_free(cfg);
		return err;
	}
	cfg->namespace = util_xstrdup(p.ns ? p.ns : "default");
	*out = cfg;
	return 0;
}

int kube_config_from_yaml(const char *yaml, size_t len, const char *context,
			  struct log *log, struct kube_config **out)
{
	char err_text[256];
	cJSON *doc = NULL;
	if (!yaml || !out)
		return -EINVAL;
	if (jy_parse(yaml, len, &doc, err_text, sizeof(err_text))) {
		log_error(log, "kubeconfig (in memory): %s", err_text);
		return -EINVAL;
	}
	int err;
	if (!cJSON_IsObject(doc)) {
		log_error(log, "kubeconfig (in memory): not a mapping");
		err = -EINVAL;
	} else {
		const cJSON *docs[1] = { doc };
		const char *files[1] = { NULL };
		err = kube_config_from_docs(docs, files, 1, context, log, out);
	}
	cJSON_Delete(doc);
	return err;
}

/* Reads and parses one file; *doc stays NULL for a missing or empty one. */
static int load_file(const char *path, struct log *log, cJSON **doc)
{
	char *text, err_text[256];
	size_t len;
	int err = kube_read_file(path, KUBE_MAX_FILE, &text, &len);
	if (err == -ENOENT)
		return 0;
	if (err) {
		log_error(log, "kubeconfig %s: %s", path, strerror(-err));
		return -EINVAL;
	}
	err = jy_parse(text, len, doc, err_text, sizeof(err_text));
	kube_secret_free(text, len);
	if (err) {
		log_error(log, "kubeconfig %s: %s", path, err_text);
		return -EINVAL;
	}
	if (cJSON_IsNull(*doc)) {
		cJSON_Delete(*doc);
		*doc = NULL;
	} else if (!cJSON_IsObject(*doc)) {
		log_error(log, "kubeconfig %s: not a mapping", path);
		cJSON_Delete(*doc);
		*doc = NULL;
		return -EINVAL;
	}
	return 0;
}

/* The list of files to merge: the option, $KUBECONFIG, ~/.kube/config. */
static char *config_paths(const struct kube_config_options *opts)
{
	const char *env = getenv("KUBECONFIG");
	if (opts->kubeconfig)
		return util_xstrdup(opts->kubeconfig);
	if (env && env[0])
		return util_xstrdup(env);
	const char *home = getenv("HOME");
	if (!home || !home[0])
		return NULL;
	size_t n = strlen(home) + sizeof("/.kube/config");
	char *p = util_xmalloc(n);
	snprintf(p, n, "%s/.kube/config", home);
	return p;
}

#define KUBE_MAX_FILES 64

int kube_config_load(const struct kube_config_options *opts,
		     struct kube_config **out)
{
	static const struct kube_config_options none;
	if (!opts)
		opts = &none;
	char *paths = config_paths(opts);
	cJSON *docs[KUBE_MAX_FILES];
	const char *files[KUBE_MAX_FILES];
	size_t n = 0;
	int err = 0;
	for (char *p = paths, *end; p && *p && !err; p = end) {
		end = strchr(p, ':');
		if (end)
			*end++ = '\0';
		else
			end = p + strlen(p);
		if (!*p)
			continue;
		if (n == KUBE_MAX_FILES) {
			log_error(opts->log, "kubeconfig: more than %d files",
				  KUBE_MAX_FILES);
			err = -EINVAL;
			break;
		}
		docs[n] = NULL;
		err = load_file(p, opts->log, &docs[n]);
		if (!err && docs[n])
			files[n++] = p;
	}
	if (!err && n)
		err = kube_config_from_docs((const cJSON *const *)docs, files, n,
					    opts->context, opts->log, out);
	else if (!err && getenv("KUBERNETES_SERVICE_HOST"))
		err = kube_config_incluster(opts->service_account_dir, opts->log,
					    out);
	else if (!err)
		err = -ENOENT;
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(docs[i]);
	free(paths);
	return err;
}

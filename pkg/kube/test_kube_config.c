/* kubeconfig merging and validation, in-cluster configuration, token
 * rotation and exec credential plugins. No network. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube-private.h"
#include "test_fixture.h"

static time_t fake_now;

static time_t fake_clock(void *ud)
{
	return *(time_t *)ud;
}

static void use_fake_clock(struct kube_config *cfg, time_t t)
{
	fake_now = t;
	cfg->clock = fake_clock;
	cfg->clock_userdata = &fake_now;
}

static char *token_of(struct kube_config *cfg, int *err)
{
	struct kube_creds cr = { 0 };
	*err = kube_config_credentials(cfg, &cr);
	char *t = cr.token ? strdup(cr.token) : NULL;
	kube_creds_free(&cr);
	return t;
}

static void assert_token(struct kube_config *cfg, const char *want)
{
	int err;
	char *t = token_of(cfg, &err);
	ck_assert_int_eq(err, 0);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, want);
	free(t);
}

/* ---- merging --------------------------------------------------------- */

static const char kc_one[] =
	"clusters:\n"
	"- name: c1\n  cluster: {server: 'https://one.example:6443/'}\n"
	"users:\n"
	"- name: u1\n  user: {token: t1}\n"
	"contexts:\n"
	"- name: ctx-a\n  context: {cluster: c1, user: u1, namespace: a}\n"
	"current-context: ctx-a\n";

/* Redefines c1 and ctx-a (ignored: the first file wins) and adds c2, u2,
 * ctx-b with paths relative to its own directory. */
static const char kc_two[] =
	"clusters:\n"
	"- name: c1\n  cluster: {server: 'https://ignored'}\n"
	"- name: c2\n  cluster: {server: 'https://two', certificate-authority: ca.pem}\n"
	"users:\n"
	"- name: u1\n  user: {token: ignored}\n"
	"- name: u2\n  user: {tokenFile: tok}\n"
	"contexts:\n"
	"- name: ctx-a\n  context: {cluster: c2, user: u2}\n"
	"- name: ctx-b\n  context: {cluster: c2, user: u2}\n"
	"current-context: ctx-b\n";

START_TEST(merge_first_wins)
{
	char *dir = tmpdir_new();
	char *sub;
	ck_assert_int_ge(asprintf(&sub, "%s/sub", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	char *f1 = write_file(dir, "one.yaml", kc_one, 0600);
	char *f2 = write_file(sub, "two.yaml", kc_two, 0600);
	free(write_file(sub, "ca.pem", "CA-PEM", 0600));
	free(write_file(sub, "tok", "file-token\n", 0600));
	char *paths;
	/* A missing file in the list is skipped, as client-go does. */
	ck_assert_int_ge(asprintf(&paths, "%s:%s/missing:%s", f1, dir, f2), 0);

	struct kube_config_options o = { .kubeconfig = paths };
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_load(&o, &cfg), 0);
	ck_assert_str_eq(kube_config_server(cfg), "https://one.example:6443");
	ck_assert_str_eq(kube_config_namespace(cfg), "a");
	assert_token(cfg, "t1");
	kube_config_free(cfg);

	o.context = "ctx-b";
	ck_assert_int_eq(kube_config_load(&o, &cfg), 0);
	ck_assert_str_eq(kube_config_server(cfg), "https://two");
	ck_assert_str_eq(kube_config_namespace(cfg), "default");
	ck_assert_str_eq((char *)cfg->ca.data, "CA-PEM");
	assert_token(cfg, "file-token");
	kube_config_free(cfg);

	o.context = "nope";
	ck_assert_int_eq(kube_config_load(&o, &cfg), -EINVAL);

	/* Reversed order: the second file's current-context and c1 win. */
	free(paths);
	ck_assert_int_ge(asprintf(&paths, "%s:%s", f2, f1), 0);
	o = (struct kube_config_options){ .kubeconfig = paths, .context = "ctx-a" };
	ck_assert_int_eq(kube_config_load(&o, &cfg), 0);
	ck_assert_str_eq(kube_config_server(cfg), "https://two");
	kube_config_free(cfg);
	free(paths);
	free(f1);
	free(f2);
	free(sub);
	tmpdir_free(dir);
}
END_TEST

START_TEST(env_and_home)
{
	char *dir = tmpdir_new();
	char *f1 = write_file(dir, "one.yaml", kc_one, 0600);
	struct kube_config *cfg = NULL;
	setenv("KUBECONFIG", f1, 1);
	ck_assert_int_eq(kube_config_load(NULL, &cfg), 0);
	ck_assert_str_eq(kube_config_namespace(cfg), "a");
	kube_config_free(cfg);

	/* ~/.kube/config when KUBECONFIG is unset. */
	unsetenv("KUBECONFIG");
	char *kdir;
	ck_assert_int_ge(asprintf(&kdir, "%s/.kube", dir), 0);
	ck_assert_int_eq(mkdir(kdir, 0700), 0);
	free(write_file(kdir, "config", kc_one, 0600));
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", dir, 1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(kube_config_load(NULL, &cfg), 0);
	ck_assert_str_eq(kube_config_server(cfg), "https://one.example:6443");
	kube_config_free(cfg);

	/* Nothing at all. */
	setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
	ck_assert_int_eq(kube_config_load(NULL, &cfg), -ENOENT);
	unsetenv("KUBECONFIG");
	if (old_home)
		setenv("HOME", old_home, 1);
	free(old_home);
	free(kdir);
	free(f1);
	tmpdir_free(dir);
}
END_TEST

/* ---- validation ------------------------------------------------------ */

#define KC_HEAD "clusters:\n- name: c\n  cluster:\n"
#define KC_USER "users:\n- name: u\n  user:\n"
#define KC_CTX "contexts:\n- name: x\n  context: {cluster: c, user: u}\n" \
	       "current-context: x\n"
#define KC_OK_CLUSTER "    server: https://h\n"

static const struct {
	const char *name;
	const char *yaml;
	int err;
} validate_cases[] = {
	{ "minimal", KC_HEAD KC_OK_CLUSTER KC_USER "    {}\n" KC_CTX, 0 },
	{ "no user in context", KC_HEAD KC_OK_CLUSTER
	  "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", 0 },
	{ "basic auth", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    username: admin\n    password: pw\n" KC_CTX, 0 },
	{ "cert and key data", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    client-certificate-data: Zm9v\n    client-key-data: YmFy\n" KC_CTX, 0 },
	{ "insecure", KC_HEAD KC_OK_CLUSTER "    insecure-skip-tls-verify: true\n"
	  KC_USER "    {}\n" KC_CTX, 0 },
	{ "exec v1beta1", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}\n"
	  KC_CTX, 0 },
	{ "no current-context", KC_HEAD KC_OK_CLUSTER KC_USER "    {}\n"
	  "contexts:\n- name: x\n  context: {cluster: c, user: u}\n", -EINVAL },
	{ "missing context", KC_HEAD KC_OK_CLUSTER "current-context: nope\n", -EINVAL },
	{ "missing cluster", "contexts:\n- name: x\n  context: {cluster: c}\n"
	  "current-context: x\n", -EINVAL },
	{ "missing user", KC_HEAD KC_OK_CLUSTER KC_CTX, -EINVAL },
	{ "no server", KC_HEAD "    insecure-skip-tls-verify: true\n" KC_USER
	  "    {}\n" KC_CTX, -EINVAL },
	{ "server not a URL", KC_HEAD "    server: h:6443\n" KC_USER "    {}\n"
	  KC_CTX, -EINVAL },
	{ "server not a string", KC_HEAD "    server: [1]\n" KC_USER "    {}\n"
	  KC_CTX, -EINVAL },
	{ "insecure with CA", KC_HEAD KC_OK_CLUSTER
	  "    insecure-skip-tls-verify: true\n    certificate-authority-data: Zm9v\n"
	  KC_USER "    {}\n" KC_CTX, -EINVAL },
	{ "insecure not bool", KC_HEAD KC_OK_CLUSTER
	  "    insecure-skip-tls-verify: 'yes please'\n" KC_USER "    {}\n" KC_CTX,
	  -EINVAL },
	{ "bad base64", KC_HEAD KC_OK_CLUSTER "    certificate-authority-data: '!!'\n"
	  KC_USER "    {}\n" KC_CTX, -EINVAL },
	{ "missing CA file", KC_HEAD KC_OK_CLUSTER
	  "    certificate-authority: /nonexistent/ca.crt\n" KC_USER "    {}\n" KC_CTX,
	  -EINVAL },
	{ "token and basic", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    token: t\n    username: u\n" KC_CTX, -EINVAL },
	{ "cert without key", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    client-certificate-data: Zm9v\n" KC_CTX, -EINVAL },
	{ "exec v1alpha1", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}\n"
	  KC_CTX, -EINVAL },
	{ "exec without command", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1}\n" KC_CTX, -EINVAL },
	{ "exec interactive Always", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
	  "interactiveMode: Always}\n" KC_CTX, -EINVAL },
	{ "exec bad env", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
	  "env: [{value: v}]}\n" KC_CTX, -EINVAL },
	{ "exec bad args", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
	  "args: [[1]]}\n" KC_CTX, -EINVAL },
	/* Found by fuzz_kubeconfig: a mapping where a list belongs overran the
	 * argv and env arrays. */
	{ "exec args a mapping", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
	  "args: {a: b, c: d}}\n" KC_CTX, -EINVAL },
	{ "exec env a mapping", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
	  "env: {name: a, value: b}}\n" KC_CTX, -EINVAL },
	{ "auth-provider", KC_HEAD KC_OK_CLUSTER KC_USER
	  "    auth-provider: {name: gcp}\n" KC_CTX, -EINVAL },
	{ "not a mapping", "- a\n- b\n", -EINVAL },
	{ "not YAML", "clusters: [\n", -EINVAL },
	{ "empty", "", -EINVAL },
};

START_TEST(validate)
{
	struct kube_config *cfg = NULL;
	const char *y = validate_cases[_i].yaml;
	int err = kube_config_from_yaml(y, strlen(y), NULL, NULL, &cfg);
	ck_assert_msg(err == validate_cases[_i].err, "%s: got %d",
		      validate_cases[_i].name, err);
	kube_config_free(cfg);
}
END_TEST

START_TEST(fields_resolved)
{
	static const char y[] =
		"clusters:\n- name: c\n  cluster:\n"
		"    server: https://10.0.0.1:6443\n"
		"    certificate-authority-data: Q0EtREFUQQ==\n"
		"    tls-server-name: kubernetes.test\n"
		"    proxy-url: socks5://127.0.0.1:1080\n"
		"users:\n- name: u\n  user:\n"
		"    token: static-token\n    tokenFile: /ignored/when/token/set\n"
		"    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u, namespace: prod}\n"
		"- name: y\n  context: {cluster: c}\n"
		"current-context: x\n";
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_from_yaml(y, sizeof(y) - 1, NULL, NULL, &cfg), 0);
	ck_assert_str_eq((char *)cfg->ca.data, "CA-DATA");
	ck_assert_str_eq(cfg->tls_server_name, "kubernetes.test");
	ck_assert_str_eq(cfg->proxy_url, "socks5://127.0.0.1:1080");
	ck_assert_ptr_null(cfg->token_file);
	ck_assert_str_eq(kube_config_namespace(cfg), "prod");
	struct kube_creds cr = { 0 };
	ck_assert_int_eq(kube_config_credentials(cfg, &cr), 0);
	ck_assert_str_eq(cr.token, "static-token");
	ck_assert_str_eq((char *)cr.cert.data, "CERT");
	ck_assert_str_eq((char *)cr.key.data, "KEY");
	kube_creds_free(&cr);
	/* A static token cannot change: a 401 has nothing to refresh. */
	ck_assert(!kube_config_invalidate(cfg));
	kube_config_free(cfg);

	ck_assert_int_eq(kube_config_from_yaml(y, sizeof(y) - 1, "y", NULL, &cfg), 0);
	ck_assert_str_eq(kube_config_namespace(cfg), "default");
	ck_assert_int_eq(kube_config_credentials(cfg, &cr), 0);
	ck_assert_ptr_null(cr.token);
	ck_assert_uint_eq(cr.cert.len, 0);
	kube_creds_free(&cr);
	kube_config_free(cfg);
}
END_TEST

/* ---- in-cluster ------------------------------------------------------- */

static char *sa_dir_new(const char *token, const char *ns)
{
	char *dir = tmpdir_new();
	free(write_file(dir, "token", token, 0600));
	free(write_file(dir, "ca.crt", "SA-CA", 0600));
	if (ns)
		free(write_file(dir, "namespace", ns, 0600));
	return dir;
}

START_TEST(incluster_rotation)
{
	char *dir = sa_dir_new("token-A\n", "operators\n");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KUBECONFIG", "/nonexistent/kubeconfig", 1);
	struct kube_config_options o = { .service_account_dir = dir };
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_load(&o, &cfg), 0);
	ck_assert_str_eq(kube_config_server(cfg), "https://10.96.0.1:443");
	ck_assert_str_eq(kube_config_namespace(cfg), "operators");
	ck_assert_str_eq((char *)cfg->ca.data, "SA-CA");
	use_fake_clock(cfg, 1000);
	assert_token(cfg, "token-A");

	/* The kubelet rotates the file; within a minute the cached token is
	 * still used, after it the file is read again. */
	free(write_file(dir, "token", "token-B", 0600));
	fake_now = 1030;
	assert_token(cfg, "token-A");
	fake_now = 1061;
	assert_token(cfg, "token-B");

	/* A 401 forces a re-read at once. */
	free(write_file(dir, "token", "token-C", 0600));
	assert_token(cfg, "token-B");
	ck_assert(kube_config_invalidate(cfg));
	assert_token(cfg, "token-C");

	/* A vanished file keeps the last token rather than failing. */
	char *tok;
	ck_assert_int_ge(asprintf(&tok, "%s/token", dir), 0);
	unlink(tok);
	fake_now = 5000;
	assert_token(cfg, "token-C");
	free(tok);
	kube_config_free(cfg);
	unsetenv("KUBECONFIG");
	tmpdir_free(dir);
}
END_TEST

START_TEST(incluster_variants)
{
	char *dir = sa_dir_new("t", NULL);
	struct kube_config *cfg = NULL;
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	ck_assert_int_eq(kube_config_incluster(dir, NULL, &cfg), 0);
	ck_assert_str_eq(kube_config_server(cfg), "https://[fd00::1]:6443");
	ck_assert_str_eq(kube_config_namespace(cfg), "default");
	kube_config_free(cfg);

	unsetenv("KUBERNETES_SERVICE_PORT");
	ck_assert_int_eq(kube_config_incluster(dir, NULL, &cfg), -ENOENT);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	ck_assert_int_eq(kube_config_incluster("/nonexistent", NULL, &cfg), -ENOENT);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	tmpdir_free(dir);
}
END_TEST

/* ---- exec plugins ----------------------------------------------------- */

/* The plugin counts its runs, records what it received, and answers with
 * the body in $dir/answer (with @N@ replaced by the run number). */
static const char plugin_sh[] =
	"#!/bin/sh\n"
	"d=$(dirname \"$0\")\n"
	"n=$(cat \"$d/count\" 2>/dev/null || echo 0); n=$((n+1))\n"
	"echo $n > \"$d/count\"\n"
	"printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$d/info.json\"\n"
	"printf '%s|' \"$@\" > \"$d/args\"\n"
	"printf '%s' \"$GREETING\" > \"$d/env\"\n"
	"[ -f \"$d/fail\" ] && { echo 'plugin says no' >&2; exit 3; }\n"
	"sed \"s/@N@/$n/g\" \"$d/answer\"\n";

static char *read_text(const char *dir, const char *name)
{
	char *p, *text = NULL;
	size_t len;
	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	if (kube_read_file(p, 1 << 20, &text, &len))
		text = NULL;
	free(p);
	return text;
}

static struct kube_config *exec_config(const char *dir, const char *api,
				       const char *extra)
{
	free(write_file(dir, "plugin.sh", plugin_sh, 0700));
	char *kc;
	ck_assert_int_ge(asprintf(&kc,
		"clusters:\n- name: c\n  cluster:\n"
		"    server: https://k.example:443\n"
		"    certificate-authority-data: Q0EtREFUQQ==\n"
		"users:\n- name: u\n  user:\n    exec:\n"
		"      apiVersion: %s\n"
		"      command: ./plugin.sh\n"
		"      args: [get-token, --cluster, prod]\n"
		"      env: [{name: GREETING, value: hello}]\n%s"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"current-context: x\n", api, extra), 0);
	char *path = write_file(dir, "kubeconfig", kc, 0600);
	struct kube_config_options o = { .kubeconfig = path };
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_load(&o, &cfg), 0);
	free(path);
	free(kc);
	return cfg;
}

START_TEST(exec_v1_cached_until_expiry)
{
	char *dir = tmpdir_new();
	free(write_file(dir, "answer",
		"{\"apiVersion\":\"client.authentication.k8s.io/v1\","
		"\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-@N@\","
		"\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}\n", 0600));
	struct kube_config *cfg =
		exec_config(dir, "client.authentication.k8s.io/v1", "");
	use_fake_clock(cfg, 1893455000); /* 2029-12-31T23:43:20Z */
	assert_token(cfg, "tok-1");
	assert_token(cfg, "tok-1");
	ck_assert_uint_eq(cfg->exec_runs, 1);

	/* What the plugin received. */
	char *info = read_text(dir, "info.json");
	cJSON *doc = cJSON_Parse(info);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(cJSON_GetObjectItem(doc, "apiVersion")->valuestring,
			 "client.authentication.k8s.io/v1");
	ck_assert_str_eq(cJSON_GetObjectItem(doc, "kind")->valuestring,
			 "ExecCredential");
	cJSON *spec = cJSON_GetObjectItem(doc, "spec");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(spec, "interactive")));
	ck_assert_ptr_null(cJSON_GetObjectItem(spec, "cluster"));
	cJSON_Delete(doc);
	free(info);
	char *args = read_text(dir, "args"), *env = read_text(dir, "env");
	ck_assert_str_eq(args, "get-token|--cluster|prod|");
	ck_assert_str_eq(env, "hello");
	free(args);
	free(env);

	/* Expired: the plugin runs again. */
	fake_now = 1893456000; /* 2030-01-01T00:00:00Z */
	assert_token(cfg, "tok-2");
	ck_assert_uint_eq(cfg->exec_runs, 2);
	/* After a 401 it runs again even before expiry. */
	fake_now = 1800000000;
	ck_assert(kube_config_invalidate(cfg));
	assert_token(cfg, "tok-3");
	kube_config_free(cfg);
	tmpdir_free(dir);
}
END_TEST

START_TEST(exec_cluster_info_and_cert)
{
	char *dir = tmpdir_new();
	free(write_file(dir, "answer",
		"{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
		"\"kind\":\"ExecCredential\",\"status\":{"
		"\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nX\\n\","
		"\"clientKeyData\":\"-----BEGIN PRIVATE KEY-----\\nY\\n\"}}\n", 0600));
	struct kube_config *cfg =
		exec_config(dir, "client.authentication.k8s.io/v1beta1",
			    "      provideClusterInfo: true\n");
	struct kube_creds cr = { 0 };
	ck_assert_int_eq(kube_config_credentials(cfg, &cr), 0);
	ck_assert_ptr_null(cr.token);
	ck_assert_str_eq((char *)cr.cert.data, "-----BEGIN CERTIFICATE-----\nX\n");
	ck_assert_str_eq((char *)cr.key.data, "-----BEGIN PRIVATE KEY-----\nY\n");
	kube_creds_free(&cr);
	/* No expiry: cached for good (until a 401). */
	ck_assert_int_eq(kube_config_credentials(cfg, &cr), 0);
	kube_creds_free(&cr);
	ck_assert_uint_eq(cfg->exec_runs, 1);

	char *info = read_text(dir, "info.json");
	cJSON *doc = cJSON_Parse(info);
	cJSON *cl = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "spec"), "cluster");
	ck_assert_ptr_nonnull(cl);
	ck_assert_str_eq(cJSON_GetObjectItem(cl, "server")->valuestring,
			 "https://k.example:443");
	ck_assert_str_eq(cJSON_GetObjectItem(cl, "certificate-authority-data")
				 ->valuestring, "Q0EtREFUQQ==");
	ck_assert_str_eq(cJSON_GetObjectItem(doc, "apiVersion")->valuestring,
			 "client.authentication.k8s.io/v1beta1");
	cJSON_Delete(doc);
	free(info);
	kube_config_free(cfg);
	tmpdir_free(dir);
}
END_TEST

static const struct {
	const char *name;
	const char *answer;
	bool fail;
} exec_bad[] = {
	{ "exit status", "{}", true },
	{ "not JSON", "token please", false },
	{ "wrong apiVersion",
	  "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
	  "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}", false },
	{ "wrong kind", "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	  "\"kind\":\"Secret\",\"status\":{\"token\":\"t\"}}", false },
	{ "no status", "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	  "\"kind\":\"ExecCredential\"}", false },
	{ "cert without key", "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	  "\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"c\"}}",
	  false },
	{ "bad expiry", "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	  "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
	  "\"expirationTimestamp\":\"tomorrow\"}}", false },
};

START_TEST(exec_failures)
{
	char *dir = tmpdir_new();
	free(write_file(dir, "answer", exec_bad[_i].answer, 0600));
	if (exec_bad[_i].fail)
		free(write_file(dir, "fail", "", 0600));
	struct kube_config *cfg =
		exec_config(dir, "client.authentication.k8s.io/v1", "");
	int err;
	char *t = token_of(cfg, &err);
	ck_assert_msg(err == -EACCES, "%s: %d", exec_bad[_i].name, err);
	ck_assert_ptr_null(t);
	kube_config_free(cfg);
	tmpdir_free(dir);
}
END_TEST

START_TEST(exec_missing_command)
{
	static const char y[] =
		"clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
		"users:\n- name: u\n  user:\n    exec: {apiVersion: "
		"client.authentication.k8s.io/v1, command: no-such-plugin-xyz}\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"current-context: x\n";
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_from_yaml(y, sizeof(y) - 1, NULL, NULL, &cfg), 0);
	int err;
	char *t = token_of(cfg, &err);
	ck_assert_int_eq(err, -EACCES);
	free(t);
	kube_config_free(cfg);
}
END_TEST

int main(void)
{
	unsetenv("KUBECONFIG");
	Suite *s = suite_create("kube-config");
	TCase *tc = tcase_create("kubeconfig");
	tcase_add_test(tc, merge_first_wins);
	tcase_add_test(tc, env_and_home);
	tcase_add_loop_test(tc, validate, 0,
			    sizeof(validate_cases) / sizeof(validate_cases[0]));
	tcase_add_test(tc, fields_resolved);
	suite_add_tcase(s, tc);
	tc = tcase_create("incluster");
	tcase_add_test(tc, incluster_rotation);
	tcase_add_test(tc, incluster_variants);
	suite_add_tcase(s, tc);
	tc = tcase_create("exec");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, exec_v1_cached_until_expiry);
	tcase_add_test(tc, exec_cluster_info_and_cert);
	tcase_add_loop_test(tc, exec_failures, 0,
			    sizeof(exec_bad) / sizeof(exec_bad[0]));
	tcase_add_test(tc, exec_missing_command);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

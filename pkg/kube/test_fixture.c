/* Test helpers; see test_fixture.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_fixture.h"

extern char **environ;

static void die(const char *what)
{
	fprintf(stderr, "test fixture: %s: %s\n", what, strerror(errno));
	abort();
}

char *tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *p;
	if (asprintf(&p, "%s/kube-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		die("asprintf");
	if (!mkdtemp(p))
		die("mkdtemp");
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

void tmpdir_free(char *dir)
{
	if (!dir)
		return;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *write_file(const char *dir, const char *name, const char *text,
		 int mode)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		die("asprintf");
	/* Write a new file and rename it over: a script being replaced
	 * while another process may exec it must never be half written. */
	char *tmp;
	if (asprintf(&tmp, "%s.tmp", p) < 0)
		die("asprintf");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		die(tmp);
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		die("write");
	close(fd);
	if (rename(tmp, p) < 0)
		die("rename");
	free(tmp);
	return p;
}

static const char *testdata(void)
{
	const char *d = getenv("KUBE_TESTDATA");
	return d ? d : "pkg/kube/testdata";
}

void fixture_start(struct fixture *f, const char *dir, const char *script,
		   int tls)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	char *sp = write_file(dir, "script.json", script, 0600);
	snprintf(f->log_path, sizeof(f->log_path), "%s/requests.jsonl", dir);
	unlink(f->log_path);
	char *py;
	if (asprintf(&py, "%s/fixture.py", testdata()) < 0)
		die("asprintf");
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		die("pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = { "/usr/bin/python3", "-u", py, sp, f->log_path, NULL };
	if (posix_spawn(&f->pid, argv[0], &fa, NULL, argv, environ))
		die("spawn python3");
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	char line[64] = { 0 };
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		ssize_t r = read(out[0], line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	close(out[0]);
	char *end;
	long port = strncmp(line, "PORT ", 5) ? 0 : strtol(line + 5, &end, 10);
	if (port <= 0 || port > 65535)
		die("fixture did not start");
	f->port = (int)port;
	snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%d",
		 tls ? "https" : "http", f->port);
	free(py);
	free(sp);
}

cJSON *script_new(void)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddArrayToObject(s, "rules");
	return s;
}

cJSON *script_rule(cJSON *script, const char *method, const char *path,
		   int status, const char *json_body)
{
	cJSON *r = cJSON_CreateObject();
	if (method)
		cJSON_AddStringToObject(r, "method", method);
	if (path)
		cJSON_AddStringToObject(r, "path", path);
	cJSON_AddNumberToObject(r, "status", status);
	if (json_body) {
		cJSON *j = cJSON_Parse(json_body);
		if (!j) {
			fprintf(stderr, "bad JSON in test: %s\n", json_body);
			abort();
		}
		cJSON_AddItemToObject(r, "json", j);
	}
	cJSON_AddItemToArray(cJSON_GetObjectItem(script, "rules"), r);
	return r;
}

void fixture_start_script(struct fixture *f, const char *dir, cJSON *script,
			  int tls)
{
	char *text = cJSON_Print(script);
	fixture_start(f, dir, text, tls);
	free(text);
	cJSON_Delete(script);
}

void fixture_stop(struct fixture *f)
{
	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
		;
	f->pid = 0;
}

cJSON *fixture_requests(const struct fixture *f)
{
	cJSON *arr = cJSON_CreateArray();
	FILE *fp = fopen(f->log_path, "r");
	if (!fp)
		return arr;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, fp) > 0) {
		cJSON *e = cJSON_Parse(line);
		if (e)
			cJSON_AddItemToArray(arr, e);
	}
	free(line);
	fclose(fp);
	return arr;
}

static void run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "test fixture: failed: %s\n", cmd);
		abort();
	}
}

void pki_make(const char *dir)
{
	char *cmd;
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
	if (asprintf(&cmd,
		     "cd '%s' && exec >/dev/null 2>&1 && "
		     "openssl req -x509 %s -days 2 -keyout ca.key -out ca.crt "
		     "-subj /CN=test-ca -addext basicConstraints=critical,CA:TRUE "
		     "-addext keyUsage=critical,keyCertSign,cRLSign && "
		     "printf 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.test\\n"
		     "extendedKeyUsage=serverAuth\\n' > server.ext && "
		     "openssl req %s -keyout server.key -out server.csr -subj /CN=server && "
		     "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
		     "-CAcreateserial -out server.crt -days 2 -extfile server.ext && "
		     "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
		     "openssl req %s -keyout client.key -out client.csr -subj /CN=test-user && "
		     "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
		     "-CAcreateserial -out client.crt -days 2 -extfile client.ext",
		     dir, ec, ec, ec) < 0)
		die("asprintf");
	run(cmd);
	free(cmd);
}

char *kubeconfig_text(const char *server, const char *cluster_extra,
		      const char *user_yaml)
{
	char *s;
	if (asprintf(&s,
		     "apiVersion: v1\nkind: Config\n"
		     "clusters:\n- name: c\n  cluster:\n    server: %s\n%s"
		     "users:\n- name: u\n  user:\n%s"
		     "contexts:\n- name: ctx\n  context:\n    cluster: c\n"
		     "    user: u\n    namespace: ns1\n"
		     "current-context: ctx\n",
		     server, cluster_extra ? cluster_extra : "",
		     user_yaml && *user_yaml ? user_yaml : "    {}\n") < 0)
		die("asprintf");
	return s;
}

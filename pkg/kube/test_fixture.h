/*
 * Test helpers: temporary directories, the loopback fixture server
 * (testdata/fixture.py) and a PKI generated with the openssl CLI.
 */
#ifndef PHO_KUBE_TEST_FIXTURE_H
#define PHO_KUBE_TEST_FIXTURE_H

#include <limits.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

struct fixture {
	pid_t pid;
	int port;
	char dir[PATH_MAX];
	char log_path[PATH_MAX + 16];
	char url[64];
};

/* mkdtemp under $TMPDIR; caller frees; aborts on failure. */
char *tmpdir_new(void);
/* rm -rf; frees dir. */
void tmpdir_free(char *dir);
/* Writes text to dir/name with the given mode; returns the path (caller
 * frees). */
char *write_file(const char *dir, const char *name, const char *text,
		 int mode);

/* Starts the server with a script (JSON text). dir receives the script
 * and the request log. tls selects https in f->url. Aborts on failure. */
void fixture_start(struct fixture *f, const char *dir, const char *script,
		   int tls);
void fixture_stop(struct fixture *f);
/* Scripts built as data: script_new() gives {"rules": []};
 * script_rule() appends a rule answering status with json_body (JSON text,
 * may be NULL) and returns it for more fields (borrowed). */
cJSON *script_new(void);
cJSON *script_rule(cJSON *script, const char *method, const char *path,
		   int status, const char *json_body);
/* Starts the fixture with script (freed). */
void fixture_start_script(struct fixture *f, const char *dir, cJSON *script,
			  int tls);

/* The requests seen so far, as an array (caller frees). */
cJSON *fixture_requests(const struct fixture *f);

/* Creates dir/{ca,server,client}.{crt,key}; the server certificate is for
 * 127.0.0.1 and "kubernetes.test", the client's CN is "test-user". */
void pki_make(const char *dir);

/* A kubeconfig YAML for one cluster and user; user_yaml is the indented
 * body of the user (may be ""), cluster_extra extra cluster lines. */
char *kubeconfig_text(const char *server, const char *cluster_extra,
		      const char *user_yaml);

#endif

/*
 * kube internals shared between the module's .c files and its tests.
 * Nothing here is part of the public contract; tests reach it by linking
 * the static library.
 */
#ifndef PHO_KUBE_PRIVATE_H
#define PHO_KUBE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "kube.h"
#include "pkg/util/util.h"

/* Caps on local inputs: a kubeconfig, a certificate file, a token file. */
#define KUBE_MAX_FILE (4u << 20)
/* Caps on what an exec plugin may print. */
#define KUBE_MAX_EXEC_OUTPUT (1u << 20)
/* Error bodies of watches and discovery documents. */
#define KUBE_MAX_ERROR_BODY (1u << 20)
/* A resourceVersion longer than this is refused. */
#define KUBE_MAX_RV 256

/* ---- small helpers (util.c) ------------------------------------------- */

/* Allocation that aborts on out-of-memory is pkg/util (util_x*): only for
 * small, internal sizes. */
/* Frees and zeroes a secret. NULL accepted. */
void kube_secret_free(void *p, size_t n);
void kube_secret_free_str(char *s);

struct kube_blob {
	unsigned char *data; /* NUL-terminated for convenience; owned */
	size_t len;
};
void kube_blob_set(struct kube_blob *b, const void *data, size_t len);
void kube_blob_clear(struct kube_blob *b); /* zeroes, frees */
void kube_blob_copy(struct kube_blob *dst, const struct kube_blob *src);

/*
 * Reads a regular file of at most cap bytes into a NUL-terminated buffer
 * (caller frees). Returns 0, -errno from open/read, -EINVAL for something
 * that is not a regular file, or -EFBIG.
 */
int kube_read_file(const char *path, size_t cap, char **out, size_t *len);

/* Strict base64 (standard alphabet, padding optional, whitespace
 * skipped). Returns 0 or -EINVAL. *out is NUL-terminated, caller frees. */
int kube_base64_decode(const char *in, size_t len, unsigned char **out,
		       size_t *outlen);
/* Caller frees. */
char *kube_base64_encode(const unsigned char *in, size_t len);

/* Milliseconds on the monotonic clock. */
uint64_t kube_now_ms(void);
/* Sleeps ms, waking early (returning -ECANCELED) when *cancel is set.
 * cancel may be NULL. */
int kube_sleep_ms(uint64_t ms, const atomic_bool *cancel);

/* Appends "key=value" percent-encoded, preceded by '?' or '&'. */
int kube_query_add(struct buf *b, const char *key, const char *value);

/* ---- configuration ---------------------------------------------------- */

struct kube_exec {
	char *api_version;  /* client.authentication.k8s.io/v1 or v1beta1 */
	char *command;      /* resolved against the kubeconfig's directory
			       when relative and containing a '/' */
	char **argv;        /* argv[0] = command; NULL-terminated */
	char **env;         /* "NAME=value", NULL-terminated */
	bool provide_cluster_info;
};

/* Credentials handed to one request. Every field owned; may be empty. */
struct kube_creds {
	char *token;
	char *username;
	char *password;
	struct kube_blob cert; /* PEM */
	struct kube_blob key;  /* PEM */
};
void kube_creds_free(struct kube_creds *cr);

struct kube_config {
	char *server;          /* no trailing '/' */
	char *namespace;
	char *tls_server_name; /* may be NULL */
	char *proxy_url;       /* may be NULL */
	struct kube_blob ca;   /* PEM; empty = system roots */
	bool insecure;

	/* static credentials */
	char *token;
	char *token_file;      /* re-read when older than token_file_ttl */
	char *username;
	char *password;
	struct kube_blob cert;
	struct kube_blob key;
	struct kube_exec *exec;

	struct log *log;
	/* Returns the wall clock; tests replace it to move time forward. */
	time_t (*clock)(void *userdata);
	void *clock_userdata;
	unsigned token_file_ttl;   /* seconds; 60 */
	unsigned exec_timeout_ms;  /* 60000 */

	pthread_mutex_t lock; /* guards everything below */
	char *file_token;
	time_t file_token_at;
	bool exec_valid;
	char *exec_token;
	struct kube_blob exec_cert;
	struct kube_blob exec_key;
	time_t exec_expiry;        /* 0 = never */
	unsigned exec_runs;        /* for tests */
};

struct kube_config *kube_config_alloc(struct log *log);
time_t kube_config_now(const struct kube_config *cfg);

/*
 * Resolves kubeconfig documents (one per file, in merge order: the first
 * document to define a name or current-context wins). files[i] names the
 * file docs[i] came from; relative paths in it resolve against its
 * directory (NULL: an in-memory document, paths relative to the working
 * directory). Returns 0 or -EINVAL (logged, naming the file and field).
 */
int kube_config_from_docs(const cJSON *const *docs, const char *const *files,
			  size_t n, const char *context, struct log *log,
			  struct kube_config **out);

/* In-cluster configuration from a service-account directory. */
int kube_config_incluster(const char *sa_dir, struct log *log,
			  struct kube_config **out);

/*
 * A snapshot of the credentials to send, refreshing a rotated token file or
 * an expired exec credential first. Returns 0 or a negative errno (the
 * failure is logged here).
 */
int kube_config_credentials(struct kube_config *cfg, struct kube_creds *out);
/* After a 401: the next kube_config_credentials() re-reads the token file
 * and re-runs the exec plugin. Returns true when something can change. */
bool kube_config_invalidate(struct kube_config *cfg);

/* Runs the exec plugin (lock held by the caller) and stores the result. */
int kube_exec_refresh(struct kube_config *cfg);
void kube_exec_free(struct kube_exec *ex);
/* The KUBERNETES_EXEC_INFO document; caller frees. */
char *kube_exec_info(const struct kube_config *cfg);
/* Parses a plugin's stdout into token or cert/key and expiry. */
int kube_exec_parse(const char *api_version, const char *text, size_t len,
		    struct kube_creds *out, time_t *expiry, struct log *log);

/* ---- errors (errors.c) ------------------------------------------------ */

/* Fills st from a response: a Status body when there is one, else the
 * first bytes of the body. Returns kube_errno_from_http(). */
int kube_status_from_response(int code, const char *body, size_t len,
			      struct kube_status *st);
/* Fills st from a Status object (e.g. a watch ERROR event). */
int kube_status_from_json(const cJSON *status, int fallback_code,
			  struct kube_status *st);
/* Maps a transport failure. too_big marks a body cap hit. */
int kube_errno_from_curl(CURLcode cc, bool too_big);
void kube_status_set(struct kube_status *st, int code, const char *reason,
		     const char *message);

/* ---- rate limiter (ratelimit.c) --------------------------------------- */

struct kube_ratelimit {
	pthread_mutex_t lock;
	double qps;     /* <= 0 disables */
	double burst;
	double tokens;
	uint64_t last_ms;
};
void kube_ratelimit_init(struct kube_ratelimit *rl, double qps, int burst);
void kube_ratelimit_destroy(struct kube_ratelimit *rl);
/* Takes a token at time now_ms; returns how long to wait before using it. */
uint64_t kube_ratelimit_reserve(struct kube_ratelimit *rl, uint64_t now_ms);
int kube_ratelimit_wait(struct kube_ratelimit *rl, const atomic_bool *cancel);

/* ---- retry policy (retry.c) ------------------------------------------- */

struct kube_attempt {
	const char *method;
	int code;             /* HTTP status; 0 when no response */
	int err;              /* negative errno of a transport failure */
	bool sent;            /* the request may have reached the server */
	long retry_after_s;   /* -1 when absent */
};

/* Whether the outcome may be retried (client-go's rules, see retry.c). */
bool kube_retry_allowed(const struct kube_attempt *a);
/* Exponential backoff with jitter for attempt n (0-based), in ms. */
uint64_t kube_backoff_ms(unsigned n, unsigned base_ms, unsigned max_ms,
			 uint64_t *rng);
/* Parses a Retry-After value (delta seconds). Returns -1 if invalid. */
long kube_parse_retry_after(const char *v, size_t len);
/*
 * The wait before the next attempt, or -1 to give up: honours
 * Retry-After, and never lets the total exceed budget_ms.
 */
int64_t kube_retry_delay(const struct kube_attempt *a, unsigned n,
			 uint64_t elapsed_ms, unsigned budget_ms,
			 unsigned base_ms, unsigned max_ms, uint64_t *rng);

/* ---- client (client.c) ------------------------------------------------ */

struct kube_discovery; /* discovery.c */

/* Everything about the endpoint that does not change per request. */
struct kube_endpoint {
	char *base_url;
	struct curl_slist *connect_to; /* for tls-server-name */
	char *host_header;
};

/* ---- TLS material parsed once (tls.c) ------------------------------------ */

/* The CA and the static client certificate and key, parsed once for every
 * connection of a client. -ENOTSUP: libcurl is not built with OpenSSL;
 * -ENOENT: nothing given; -EINVAL: nothing parsed (libcurl then parses
 * the blobs and reports why). */
struct kube_tls;
int kube_tls_new(const struct kube_blob *ca, const struct kube_blob *cert,
		 const struct kube_blob *key, struct log *log,
		 struct kube_tls **out);
void kube_tls_free(struct kube_tls *t);
bool kube_tls_has_ca(const struct kube_tls *t);
bool kube_tls_has_client(const struct kube_tls *t);
/* CURLOPT_SSL_CTX_FUNCTION callbacks (userdata: the kube_tls): the CA
 * store only, or the store and the client certificate and key. */
CURLcode kube_tls_ctx_ca(CURL *h, void *ssl_ctx, void *userdata);
CURLcode kube_tls_ctx_all(CURL *h, void *ssl_ctx, void *userdata);

/*
 * The client's streams thread (streams.c), which runs every transfer:
 * kube_streams_perform() runs one set-up easy handle's transfer there,
 * with the others, and returns its result when it is done; the handle's
 * callbacks run on that thread. The thread and its multi handle start
 * with the first transfer. kube_streams_free() ends any transfer still
 * running as CURLE_ABORTED_BY_CALLBACK.
 */
struct kube_streams;
struct kube_streams *kube_streams_new(void);
CURLcode kube_streams_perform(struct kube_streams *s, CURL *h);
void kube_streams_free(struct kube_streams *s);

struct kube_client {
	struct kube_config *cfg;
	struct kube_tls *tls;      /* NULL: libcurl parses the PEM blobs */
	struct log *log;
	char *user_agent;
	size_t max_body;
	unsigned retry_budget_ms;
	unsigned timeout_ms;
	unsigned backoff_base_ms;  /* 250; tests shorten it */
	unsigned backoff_max_ms;   /* 8000 */
	unsigned max_attempts;     /* 10 */
	kube_request_cb on_request;
	void *on_request_userdata;
	char *host;                /* for on_request */
	struct kube_endpoint ep;
	struct kube_ratelimit rl;

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	struct kube_streams *streams; /* every transfer runs there */

	pthread_mutex_t pool_lock;
	CURL **pool;               /* idle easy handles, LIFO */
	size_t pool_len;
	size_t pool_max;

	_Atomic uint64_t rng;
	struct kube_discovery *disc;
};

/* One HTTP exchange, retried as the policy allows. */
struct kube_request {
	const char *method;
	const char *path;          /* absolute path with query */
	const char *content_type;  /* NULL = none */
	const char *const *headers;/* extra "Name: value" lines or NULL */
	const void *body;
	size_t body_len;
	struct buf *out;           /* response body; its cap applies */
	/* Streaming (watch): called with 2xx body data instead of out. A
	 * non-zero return aborts the transfer. */
	int (*stream)(void *userdata, const char *data, size_t len);
	void *stream_userdata;
	unsigned timeout_ms;       /* 0 = the client's */
	unsigned retry_budget_ms;  /* 0 = the client's */
	bool quiet;                /* the caller logs failures */
	const atomic_bool *cancel; /* may be NULL */
};

/* Returns 0 once a response arrived (*code set, any status), else a
 * negative errno with st describing the transport failure. A stream
 * callback's error is returned as is. */
int kube_exchange(struct kube_client *c, const struct kube_request *rq,
		  int *code, struct kube_status *st);

/*
 * A request whose answer is a JSON document: non-2xx answers become an
 * errno and st; a 2xx body is parsed into *out (when out is non-NULL).
 */
int kube_call(struct kube_client *c, const char *method, const char *path,
	      const char *content_type, const cJSON *body, cJSON **out,
	      struct kube_status *st);

/* Test hooks. */
void kube_client_set_backoff(struct kube_client *c, unsigned base_ms,
			     unsigned max_ms);
size_t kube_client_pool_size(struct kube_client *c);

/* ---- paths (verbs.c) -------------------------------------------------- */

/* Appends the path of a collection (name NULL) or an object and its
 * subresource. Returns 0 or -EINVAL for a bad segment. */
int kube_path(struct buf *b, const struct kube_resource *r, const char *ns,
	      const char *name, const char *subresource);

/* ---- discovery (discovery.c) ------------------------------------------ */

struct kube_discovery *kube_discovery_new(void);
void kube_discovery_free(struct kube_discovery *d);

/* ---- watch stream framing (watch_decoder.c) --------------------------- */

/*
 * Splits a byte stream of JSON objects (newline-delimited, or simply
 * concatenated) into whole objects, whatever the chunk boundaries. Each
 * complete object is parsed and passed to on_object (which takes it).
 */
struct kube_wdec {
	struct buf cur;        /* bytes of the object being framed */
	int depth;
	bool in_string;
	bool escape;
	int (*on_object)(void *userdata, cJSON *obj);
	void *userdata;
};
void kube_wdec_init(struct kube_wdec *d, size_t max_event,
		    int (*on_object)(void *userdata, cJSON *obj),
		    void *userdata);
void kube_wdec_free(struct kube_wdec *d);
/* Returns 0, -EFBIG when an object exceeds max_event, -EBADMSG for bytes
 * that are not JSON objects, or the callback's non-zero return. */
int kube_wdec_feed(struct kube_wdec *d, const char *data, size_t len);
/* At end of stream: -EBADMSG when a partial object is pending. */
int kube_wdec_finish(struct kube_wdec *d);

/*
 * Interprets one watch event document: hands the object to cb and records
 * its resourceVersion in rv (KUBE_MAX_RV bytes). Returns 0, the callback's
 * return, KUBE_EGONE for an ERROR event with code 410, another errno for
 * other ERROR events (st filled), or -EBADMSG.
 */
int kube_watch_dispatch(cJSON *event, kube_watch_cb cb, void *userdata,
			char *rv, struct kube_status *st);

#endif

#include "clickhouse.h"
#include "clickhouse-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "pkg/util/util.h"

#define CH_DEFAULT_TIMEOUT_MS 30000u
#define CH_DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define CH_MAX_CONNECT_MS 10000u

struct ch_client {
	char *url; /* without a trailing '/'; NULL with a transport */
	ch_transport_fn transport;
	void *transport_userdata;
	char *user;
	char *password;
	char *database;
	bool tls_verify;
	unsigned timeout_ms;
	size_t max_body;
	struct log *log;
	/* One easy handle, reused so that connections are kept alive; the
	 * mutex serializes the workers that share the client. */
	CURL *curl;
	struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO; may be NULL */
	pthread_mutex_t mu;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The first byte of s that may not go into an HTTP header value: a
 * control character (CR and LF would end the header and start another,
 * on a connection that may be shared with other requests), or -1. */
static long header_unsafe(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return (long)i;
	}
	return -1;
}

int ch_credential_clean(char *value, size_t *len, size_t *bad_at)
{
	size_t n = *len;
	long bad;

	if (n > 0 && value[n - 1] == '\n') {
		n--;
		if (n > 0 && value[n - 1] == '\r')
			n--;
	}
	bad = header_unsafe(value, n);
	if (bad >= 0) {
		if (bad_at)
			*bad_at = (size_t)bad;
		return -EINVAL;
	}
	value[n] = '\0';
	*len = n;
	return 0;
}

int ch_new(const struct ch_options *opts, struct ch_client **out)
{
	struct ch_client *c;
	size_t n;

	if (!opts || (!opts->url) == (!opts->transport))
		return -EINVAL;
	/* User and password travel in headers: refuse what would split one. */
	if ((opts->user && header_unsafe(opts->user, strlen(opts->user)) >= 0) ||
	    (opts->password && header_unsafe(opts->password, strlen(opts->password)) >= 0))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	if (opts->url) {
		c->url = util_xstrdup(opts->url);
		n = strlen(c->url);
		while (n > 0 && c->url[n - 1] == '/')
			c->url[--n] = '\0';
		c->curl = curl_easy_init();
		if (!c->curl) {
			free(c->url);
			free(c);
			return -ENOMEM;
		}
		for (n = 0; opts->connect_to && opts->connect_to[n]; n++) {
			struct curl_slist *l;

			if (ch_connect_to_check(opts->connect_to[n], NULL, 0) < 0 ||
			    !(l = curl_slist_append(c->connect_to, opts->connect_to[n]))) {
				curl_slist_free_all(c->connect_to);
				curl_easy_cleanup(c->curl);
				free(c->url);
				free(c);
				return -EINVAL;
			}
			c->connect_to = l;
		}
	}
	c->transport = opts->transport;
	c->transport_userdata = opts->transport_userdata;
	c->user = util_xstrdup(opts->user ? opts->user : "default");
	c->password = util_xstrdup(opts->password);
	c->database = util_xstrdup(opts->database);
	c->tls_verify = opts->tls_verify;
	c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : CH_DEFAULT_TIMEOUT_MS;
	c->max_body = opts->max_body ? opts->max_body : CH_DEFAULT_MAX_BODY;
	c->log = opts->log;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void ch_free(struct ch_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->connect_to);
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	free(c->user);
	if (c->password) {
		/* The password leaves no copy behind in freed memory. */
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	free(c->database);
	free(c);
}

static bool unreserved(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
	       ch == '.' || ch == '~';
}

int ch_path_query(const char *database, bool json, struct buf *out)
{
	const unsigned char *p;
	int r;

	r = buf_append_str(out, "/?");
	if (r == 0 && database && *database) {
		r = buf_append_str(out, "database=");
		for (p = (const unsigned char *)database; r == 0 && *p; p++)
			r = unreserved(*p) ? buf_append(out, p, 1)
					   : buf_printf(out, "%%%02X", *p);
		if (r == 0 && json)
			r = buf_append_str(out, "&");
	}
	if (r == 0 && json)
		r = buf_append_str(out, "default_format=JSON");
	return r;
}

int ch_status_errno(int http_code)
{
	if (http_code >= 200 && http_code < 300)
		return 0;
	if (http_code == 401 || http_code == 403)
		return -EACCES;
	return -EIO;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

static bool has_at(const char *body, size_t len, size_t i, const char *s)
{
	size_t n = strlen(s);

	return i <= len && len - i >= n && memcmp(body + i, s, n) == 0;
}

/* The last "Code: <digits>" in body that "Exception" follows, or NULL.
 * 18.16 writes "Code: 47, e.displayText() = DB::Exception: ...", newer
 * servers "Code: 47. DB::Exception: ...". Bounded by len: a transport might
 * hand back anything, NULs included. */
static const char *find_code(const char *body, size_t len)
{
	const char *last = NULL;
	size_t i, j;

	for (i = 0; i + 7 <= len; i++) {
		if (!has_at(body, len, i, "Code: ") || body[i + 6] < '0' ||
		    body[i + 6] > '9')
			continue;
		for (j = i + 6; j < len && j < i + 64; j++) {
			if (has_at(body, len, j, "Exception")) {
				last = body + i;
				break;
			}
		}
	}
	return last;
}

bool ch_extract_exception(const char *body, size_t len, char *err,
			  size_t errlen)
{
	const char *start = NULL, *end;
	bool found;

	if (body)
		start = find_code(body, len);
	found = start != NULL;
	if (!start)
		start = body ? body : "";
	end = body ? body + len : start;
	while (start < end && is_space(*start))
		start++;
	while (end > start && is_space(end[-1]))
		end--;
	if (err && errlen)
		set_err(err, errlen, "%.*s", (int)(end - start), start);
	return found;
}

int ch_exception_code(const char *err)
{
	const char *p = err ? strstr(err, "Code: ") : NULL;
	int code = 0;

	if (!p || p[6] < '0' || p[6] > '9')
		return -1;
	for (p += 6; *p >= '0' && *p <= '9' && code < 100000; p++)
		code = code * 10 + (*p - '0');
	return code;
}

int ch_parse_rows(const char *body, size_t len, cJSON **rows, char *err,
		  size_t errlen)
{
	cJSON *doc, *data;

	doc = cJSON_ParseWithLength(body, len);
	if (!doc) {
		if (ch_extract_exception(body, len, err, errlen))
			return -EIO;
		set_err(err, errlen, "clickhouse: answer is not JSON");
		return -EBADMSG;
	}
	data = cJSON_DetachItemFromObjectCaseSensitive(doc, "data");
	cJSON_Delete(doc);
	if (!cJSON_IsArray(data)) {
		cJSON_Delete(data);
		set_err(err, errlen, "clickhouse: answer has no \"data\" array");
		return -EBADMSG;
	}
	*rows = data;
	return 0;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
		return -EPROTO;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

/*
 * --connect-to. The fields are checked here rather than left to libcurl,
 * which accepts almost anything and fails only when a request matches; a
 * typo in a flag should fail at start-up, naming it.
 */
#define CH_MAX_CONNECT_TO 512

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
}

static bool hex_char(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
}

/* Skips one host field at *p: empty, a name, or [IPv6]. */
static bool skip_host(const char **p)
{
	const char *s = *p;

	if (*s == '[') {
		for (s++; hex_char(*s); s++)
			;
		if (*s != ']' || s == *p + 1)
			return false;
		*p = s + 1;
		return true;
	}
	while (host_char(*s))
		s++;
	*p = s;
	return true;
}

/* Skips one port field at *p: empty or 1..65535; *set says which. */
static bool skip_port(const char **p, bool *set)
{
	unsigned long v = 0;
	const char *s = *p;

	while (*s >= '0' && *s <= '9' && s - *p < 6)
		v = v * 10 + (unsigned long)(*s++ - '0');
	*set = s != *p;
	*p = s;
	return !*set || (v >= 1 && v <= 65535);
}

int ch_connect_to_check(const char *spec, char *err, size_t errlen)
{
	static const char *const what[] = {"HOST", "PORT", "CONNECT-HOST", "CONNECT-PORT"};
	const char *p = spec, *start;
	bool set = false, target = false;

	if (!spec || strlen(spec) > CH_MAX_CONNECT_TO) {
		set_err(err, errlen, "want HOST:PORT:CONNECT-HOST:CONNECT-PORT of at most %d characters",
			CH_MAX_CONNECT_TO);
		return -EINVAL;
	}
	for (int i = 0; i < 4; i++) {
		start = p;
		if (!(i % 2 ? skip_port(&p, &set) : skip_host(&p))) {
			set_err(err, errlen, "%s is not a valid %s", what[i],
				i % 2 ? "port (1-65535)" : "host name or [IPv6] address");
			return -EINVAL;
		}
		if (i >= 2 && p != start)
			target = true;
		if (*p != (i < 3 ? ':' : '\0')) {
			if (*p)
				set_err(err, errlen, "%s: unexpected \"%.16s\"; want HOST:PORT:CONNECT-HOST:CONNECT-PORT",
					what[i], p);
			else
				set_err(err, errlen, "no %s: want HOST:PORT:CONNECT-HOST:CONNECT-PORT",
					what[i + 1]);
			return -EINVAL;
		}
		if (i < 3)
			p++;
	}
	if (!target) {
		set_err(err, errlen, "CONNECT-HOST and CONNECT-PORT are both empty: the mapping would change nothing");
		return -EINVAL;
	}
	return 0;
}

/* Sends one request with libcurl. Called with c->mu held. */
static int curl_send(struct ch_client *c, const char *path_query,
		     const char *const *headers, const char *body,
		     size_t body_len, struct buf *out, int *http_code,
		     char *err, size_t errlen)
{
	struct curl_slist *hl = NULL;
	struct buf url;
	CURLcode rc;
	long code = 0;
	size_t i;
	int r;

	buf_init(&url, 8192);
	r = buf_printf(&url, "%s%s", c->url, path_query);
	if (r < 0)
		goto out;
	for (i = 0; headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
	/* Past max_body buf_write_cb fails the transfer with CURLE_WRITE_ERROR,
	 * which curl_errno() reports as -EMSGSIZE. */
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, buf_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(c->timeout_ms < CH_MAX_CONNECT_MS ? c->timeout_ms
								  : CH_MAX_CONNECT_MS));
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->connect_to)
		curl_easy_setopt(c->curl, CURLOPT_CONNECT_TO, c->connect_to);
	rc = curl_easy_perform(c->curl);
	r = curl_errno(rc);
	if (r == -EMSGSIZE)
		set_err(err, errlen, "clickhouse: answer larger than %zu bytes",
			c->max_body);
	else if (r < 0)
		set_err(err, errlen, "clickhouse: %s: %s", c->url,
			curl_easy_strerror(rc));
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	*http_code = (int)code;
out:
	curl_slist_free_all(hl);
	buf_free(&url);
	return r;
}

/* Builds the headers of a request. Storage lives in hdrs; the array
 * points into it. */
struct ch_headers {
	struct buf user;
	struct buf key;
	const char *list[5];
};

static int build_headers(const struct ch_client *c, struct ch_headers *h)
{
	size_t n = 0;
	int r;

	r = buf_printf(&h->user, "X-ClickHouse-User: %s", c->user);
	if (r == 0 && c->password)
		r = buf_printf(&h->key, "X-ClickHouse-Key: %s", c->password);
	if (r < 0)
		return r;
	h->list[n++] = buf_str(&h->user);
	if (c->password)
		h->list[n++] = buf_str(&h->key);
	h->list[n++] = "Content-Type: text/plain; charset=UTF-8";
	/* No "Expect: 100-continue" round trip for large statements. */
	h->list[n++] = "Expect:";
	h->list[n] = NULL;
	return 0;
}

static void free_headers(struct ch_headers *h)
{
	if (h->key.data)
		memset(h->key.data, 0, h->key.len);
	buf_free(&h->user);
	buf_free(&h->key);
}

/*
 * Runs sql and leaves the answer body in out. Maps a failed answer to an
 * errno here, once, with the server's text in err.
 */
static int request(struct ch_client *c, const char *sql, bool json,
		   struct buf *out, char *err, size_t errlen)
{
	struct ch_headers h;
	struct buf pq;
	int r, code = 0;

	if (!c || !sql)
		return -EINVAL;
	buf_init(&pq, 4096);
	buf_init(&h.user, 4096);
	buf_init(&h.key, 4096);
	r = ch_path_query(c->database, json, &pq);
	if (r == 0)
		r = build_headers(c, &h);
	if (r < 0) {
		set_err(err, errlen, "clickhouse: database or user name too long");
		goto out;
	}
	if (c->transport) {
		r = c->transport(c->transport_userdata, buf_str(&pq), h.list,
				 sql, strlen(sql), out, &code);
		if (r < 0)
			set_err(err, errlen, "clickhouse: transport: %s",
				ch_strerror(r));
	} else {
		pthread_mutex_lock(&c->mu);
		r = curl_send(c, buf_str(&pq), h.list, sql, strlen(sql), out,
			      &code, err, errlen);
		pthread_mutex_unlock(&c->mu);
	}
	if (r == 0) {
		r = ch_status_errno(code);
		if (r < 0)
			ch_extract_exception(out->data, out->len, err, errlen);
		if (r < 0 && out->len == 0)
			set_err(err, errlen, "clickhouse: HTTP status %d", code);
	}
	if (r < 0)
		log_write(c->log, LOG_WARN, NULL, "clickhouse: %s (%d)",
			  err && errlen ? err : ch_strerror(r), code);
out:
	free_headers(&h);
	buf_free(&pq);
	return r;
}

int ch_exec(struct ch_client *c, const char *sql, char *err, size_t errlen)
{
	struct buf out;
	int r;

	if (!c)
		return -EINVAL;
	buf_init(&out, c->max_body);
	r = request(c, sql, false, &out, err, errlen);
	/* A statement that fails after the server has started answering
	 * still comes back with status 200 and the exception at the end. */
	if (r == 0 && ch_extract_exception(out.data, out.len, NULL, 0)) {
		ch_extract_exception(out.data, out.len, err, errlen);
		log_write(c->log, LOG_WARN, NULL, "clickhouse: %s",
			  err && errlen ? err : ch_strerror(-EIO));
		r = -EIO;
	}
	buf_free(&out);
	return r;
}

int ch_query(struct ch_client *c, const char *sql, cJSON **rows, char *err,
	     size_t errlen)
{
	struct buf out;
	cJSON *res = NULL;
	int r;

	if (!c || !rows)
		return -EINVAL;
	buf_init(&out, c->max_body);
	r = request(c, sql, true, &out, err, errlen);
	if (r == 0) {
		/* request() logged its own failures; these are the answer's. */
		r = ch_parse_rows(out.data ? out.data : "", out.len, &res, err,
				  errlen);
		if (r < 0)
			log_write(c->log, LOG_WARN, NULL, "clickhouse: %s",
				  err && errlen ? err : ch_strerror(r));
	}
	if (r == 0)
		*rows = res;
	buf_free(&out);
	return r;
}

const char *ch_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid argument";
	case -EIO:
		return "the server refused the query";
	case -EACCES:
		return "the server refused the credentials";
	case -EMSGSIZE:
		return "answer too large";
	case -EBADMSG:
		return "answer not understood";
	case -ECONNREFUSED:
		return "connection refused";
	case -ETIMEDOUT:
		return "timed out";
	case -EHOSTUNREACH:
		return "host not found or unreachable";
	case -ECONNRESET:
		return "connection lost";
	case -EPROTO:
		return "TLS failure";
	case -ENOMEM:
		return "out of memory";
	default:
		return "transport failure";
	}
}

/*
 * s3: see s3.h. libcurl signs every request (CURLOPT_AWS_SIGV4); this file
 * builds URLs, streams bodies and turns the store's error XML into errnos
 * and messages.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "s3-private.h"
#include "pkg/util/util.h"

#define S3_DEFAULT_TIMEOUT_MS 300000u
#define S3_MAX_CONNECT_MS 10000u
#define S3_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define S3_MAX_KEY 1024
#define S3_MAX_ERROR_BODY ((size_t)64 << 10)
#define S3_MAX_LIST_PAGE ((size_t)16 << 20)
/* The SHA-256 of an empty payload (GET, DELETE, list). */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_client {
	CURL *curl;
	char *endpoint;
	char *bucket;
	char *sigv4;    /* "aws:amz:<region>:s3" */
	char *userpwd;  /* "<access>:<secret>" */
	int tls_verify;
	unsigned timeout_ms;
	size_t max_body;
	struct log *log;
	struct s3_stats stats;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Bytes that may not reach a signed header: control characters, and
 * extra (':' for the key id and region, which libcurl splits on). */
static bool header_safe(const char *s, const char *extra)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (extra && strchr(extra, *s)))
			return false;
	return true;
}

int s3_new(const struct s3_options *o, struct s3_client **out)
{
	struct s3_client *c;
	struct buf b;
	const char *missing = NULL;

	if (!o->endpoint || !*o->endpoint)
		missing = "endpoint";
	else if (!o->bucket || !*o->bucket)
		missing = "bucket";
	else if (!o->access_key || !*o->access_key)
		missing = "access key";
	else if (!o->secret_key || !*o->secret_key)
		missing = "secret key";
	if (missing) {
		if (o->log)
			log_error(o->log, "s3: no %s given", missing);
		return -EINVAL;
	}
	if (!header_safe(o->endpoint, " ") || !header_safe(o->access_key, ":") ||
	    !header_safe(o->secret_key, NULL) || (o->region && !header_safe(o->region, ":"))) {
		if (o->log)
			log_error(o->log, "s3: the endpoint, access key, secret key or region holds a "
					  "control character (or a ':' in the key id or region)");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return -ENOMEM;
	}
	c->endpoint = util_xstrdup(o->endpoint);
	while (c->endpoint[0] && c->endpoint[strlen(c->endpoint) - 1] == '/')
		c->endpoint[strlen(c->endpoint) - 1] = '\0';
	c->bucket = util_xstrdup(o->bucket);
	buf_init(&b, 4096);
	if (buf_printf(&b, "aws:amz:%s:s3", o->region && *o->region ? o->region : "us-east-1") < 0)
		abort();
	c->sigv4 = buf_take(&b);
	if (buf_printf(&b, "%s:%s", o->access_key, o->secret_key) < 0)
		abort();
	c->userpwd = buf_take(&b);
	c->tls_verify = o->tls_verify;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : S3_DEFAULT_TIMEOUT_MS;
	c->max_body = o->max_body ? o->max_body : S3_DEFAULT_MAX_BODY;
	c->log = o->log;
	*out = c;
	return 0;
}

void s3_free(struct s3_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c->endpoint);
	free(c->bucket);
	if (c->userpwd) {
		/* The secret does not outlive the client in freed memory. */
		memset(c->userpwd, 0, strlen(c->userpwd));
		free(c->userpwd);
	}
	free(c->sigv4);
	free(c);
}

void s3_get_stats(const struct s3_client *c, struct s3_stats *out)
{
	*out = c->stats;
}

int s3_status_errno(int http_code)
{
	if (http_code >= 200 && http_code < 300)
		return 0;
	switch (http_code) {
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return -EIO;
	}
}

const char *s3_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EACCES:
		return "the store refused the credentials or the request";
	case -ENOENT:
		return "no such key or bucket";
	case -EEXIST:
		return "conflict";
	case -ECONNREFUSED:
		return "store unreachable (connection refused)";
	case -ETIMEDOUT:
		return "store timed out";
	case -EHOSTUNREACH:
		return "store host unknown or unreachable";
	case -EMSGSIZE:
		return "answer larger than the cap";
	case -EBADMSG:
		return "answer not understood";
	case -EINVAL:
		return "invalid argument";
	default:
		return "store error";
	}
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
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	case CURLE_READ_ERROR:
		return -EIO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

int s3_encode_key(const char *key, int keep_slash, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char esc[3];
	int r = 0;

	for (p = (const unsigned char *)key; *p && r == 0; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
			r = buf_append(out, p, 1);
		} else {
			esc[0] = '%';
			esc[1] = hex[*p >> 4];
			esc[2] = hex[*p & 15];
			r = buf_append(out, esc, 3);
		}
	}
	return r;
}

/* Decodes the five predefined XML entities and numeric ASCII references
 * of in[0..n) into out. */
static int xml_unescape(const char *in, size_t n, char *out, size_t outlen)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	size_t i = 0, o = 0, k, el;

	while (i < n) {
		char ch = in[i++];

		if (ch == '&') {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				el = strlen(ents[k].ent);
				if (i - 1 + el <= n && memcmp(in + i - 1, ents[k].ent, el) == 0) {
					ch = ents[k].c;
					i += el - 1;
					break;
				}
			}
		}
		if (o + 1 >= outlen)
			return -EMSGSIZE;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

static const char *mem_find(const char *h, size_t hlen, const char *n)
{
	size_t nlen = strlen(n);

	if (nlen > hlen)
		return NULL;
	return memmem(h, hlen, n, nlen);
}

int s3_xml_next(const char *xml, size_t len, const char *tag, size_t *pos,
		char *out, size_t outlen)
{
	char open[64], close[64];
	const char *a, *b;
	int r;

	if (snprintf(open, sizeof(open), "<%s>", tag) >= (int)sizeof(open) ||
	    snprintf(close, sizeof(close), "</%s>", tag) >= (int)sizeof(close))
		return -EMSGSIZE;
	if (*pos >= len)
		return 0;
	a = mem_find(xml + *pos, len - *pos, open);
	if (!a)
		return 0;
	a += strlen(open);
	b = mem_find(a, len - (size_t)(a - xml), close);
	if (!b)
		return 0;
	r = xml_unescape(a, (size_t)(b - a), out, outlen);
	if (r < 0)
		return r;
	*pos = (size_t)(b - xml) + strlen(close);
	return 1;
}

void s3_format_error(const char *method, const char *key, int http_code,
		     const char *body, size_t len, char *err, size_t errlen)
{
	char code[128] = "", msg[512] = "";
	size_t pos = 0, pos2 = 0;

	if (s3_xml_next(body, len, "Code", &pos, code, sizeof(code)) == 1) {
		s3_xml_next(body, len, "Message", &pos2, msg, sizeof(msg));
		set_err(err, errlen, "s3: %s %s: %d %s%s%s", method, key,
			http_code, code, msg[0] ? ": " : "", msg);
		return;
	}
	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == ' ' || body[len - 1] == '\r'))
		len--;
	if (len > 300)
		len = 300;
	set_err(err, errlen, "s3: %s %s: HTTP %d%s%.*s", method, key, http_code,
		len ? ": " : "", (int)len, body);
}

struct sink {
	struct buf *mem;   /* answers kept in memory */
	FILE *file;        /* or written to a file when the status is 2xx */
	struct buf errbody;
	CURL *curl;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code >= 300)
		return buf_write_cb(ptr, size, nmemb, &s->errbody);
	if (s->file)
		return fwrite(ptr, 1, n, s->file);
	if (s->mem)
		return buf_write_cb(ptr, size, nmemb, s->mem);
	return n;
}

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FILE *f = userdata;
	size_t n = fread(ptr, 1, size * nmemb, f);

	if (n == 0 && ferror(f))
		return CURL_READFUNC_ABORT;
	return n;
}

struct request {
	const char *method;       /* GET, PUT, DELETE */
	const char *key;          /* for the URL (and messages) */
	const char *label;        /* for messages instead of key, or NULL */
	const char *query;        /* after '?', or NULL */
	const void *data;         /* PUT body in memory */
	size_t data_len;
	FILE *upload;             /* or PUT body from a file */
	curl_off_t upload_len;
	const char *sha256_hex;   /* payload hash for file uploads */
	struct sink *sink;
};

static int perform(struct s3_client *c, struct request *rq, char *err,
		   size_t errlen)
{
	struct curl_slist *hl = NULL;
	struct buf url, hdr;
	CURLcode rc;
	long code = 0;
	int r;

	buf_init(&url, 8192);
	buf_init(&hdr, 256);
	r = buf_printf(&url, "%s/", c->endpoint);
	if (r == 0)
		r = s3_encode_key(c->bucket, 0, &url);
	if (r == 0 && rq->key[0])
		r = buf_append_str(&url, "/");
	if (r == 0)
		r = s3_encode_key(rq->key, 1, &url);
	if (r == 0 && rq->query)
		r = buf_printf(&url, "?%s", rq->query);
	if (r < 0) {
		set_err(err, errlen, "s3: key too long: %.80s", rq->key);
		goto out;
	}
	if (rq->label)
		rq->key = rq->label;
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(c->curl, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(c->curl, CURLOPT_USERPWD, c->userpwd);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(c->timeout_ms < S3_MAX_CONNECT_MS ? c->timeout_ms : S3_MAX_CONNECT_MS));
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, rq->sink);
	rq->sink->curl = c->curl;
	if (!rq->sha256_hex)
		rq->sha256_hex = S3_EMPTY_SHA256;
	/* S3 wants the payload's SHA-256 in x-amz-content-sha256 on every
	 * request; libcurl's signer (7.88) does not add it for service "s3"
	 * but signs it, and uses it as the payload hash, when it is given. */
	if (buf_printf(&hdr, "x-amz-content-sha256: %s", rq->sha256_hex) < 0)
		abort();
	hl = curl_slist_append(hl, buf_str(&hdr));
	if (strcmp(rq->method, "PUT") == 0 && rq->upload) {
		/* No "Expect: 100-continue" round trip per object. */
		hl = curl_slist_append(hl, "Expect:");
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, rq->upload);
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, rq->upload_len);
	} else if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, rq->data_len ? rq->data : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->data_len);
		hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
	} else if (strcmp(rq->method, "DELETE") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(c->curl);
	r = curl_errno(rc);
	if (r < 0) {
		if (rc == CURLE_WRITE_ERROR && rq->sink->file)
			r = -EIO;
		set_err(err, errlen, "s3: %s %s: %s: %s", rq->method, rq->key,
			c->endpoint, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	r = s3_status_errno((int)code);
	if (r < 0)
		s3_format_error(rq->method, rq->key, (int)code,
				buf_str(&rq->sink->errbody), rq->sink->errbody.len,
				err, errlen);
out:
	curl_slist_free_all(hl);
	buf_free(&url);
	buf_free(&hdr);
	return r;
}

static void sink_init(struct sink *s, struct buf *mem, FILE *file)
{
	memset(s, 0, sizeof(*s));
	s->mem = mem;
	s->file = file;
	buf_init(&s->errbody, S3_MAX_ERROR_BODY);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
}

int s3_put(struct s3_client *c, const char *key, const void *data, size_t len,
	   char *err, size_t errlen)
{
	char hex[65];
	struct sink s;
	struct request rq = { .method = "PUT", .key = key, .data = data,
			      .data_len = len, .sha256_hex = hex, .sink = &s };
	int r;

	sha256_hex(data, len, hex);
	sink_init(&s, NULL, NULL);
	r = perform(c, &rq, err, errlen);
	buf_free(&s.errbody);
	if (r == 0) {
		c->stats.puts++;
		c->stats.put_bytes += len;
	}
	return r;
}

int s3_sha256_file(const char *path, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE], chunk[1 << 16];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	FILE *f;
	size_t n;
	int r = 0;

	f = fopen(path, "rb");
	if (!f)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		EVP_DigestUpdate(ctx, chunk, n);
	if (ferror(f))
		r = -EIO;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	if (r < 0)
		return r;
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
	return 0;
}

int s3_put_file(struct s3_client *c, const char *key, const char *path,
		const char *sha256_hex, char *err, size_t errlen)
{
	struct request rq = { .method = "PUT", .key = key };
	char hex[65];
	struct stat st;
	struct sink s;
	FILE *f;
	int r;

	if (!sha256_hex) {
		r = s3_sha256_file(path, hex);
		if (r < 0) {
			set_err(err, errlen, "s3: read %s: %s", path, strerror(-r));
			return r;
		}
		sha256_hex = hex;
	}
	f = fopen(path, "rb");
	if (!f || fstat(fileno(f), &st) < 0) {
		r = -errno;
		set_err(err, errlen, "s3: open %s: %s", path, strerror(errno));
		if (f)
			fclose(f);
		return r;
	}
	rq.upload = f;
	rq.upload_len = (curl_off_t)st.st_size;
	rq.sha256_hex = sha256_hex;
	rq.sink = &s;
	sink_init(&s, NULL, NULL);
	r = perform(c, &rq, err, errlen);
	buf_free(&s.errbody);
	fclose(f);
	if (r == 0) {
		c->stats.puts++;
		c->stats.put_bytes += (uint64_t)st.st_size;
	}
	return r;
}

int s3_get(struct s3_client *c, const char *key, struct buf *out, char *err,
	   size_t errlen)
{
	struct sink s;
	struct request rq = { .method = "GET", .key = key, .sink = &s };
	size_t before = out->len;
	int r;

	sink_init(&s, out, NULL);
	r = perform(c, &rq, err, errlen);
	buf_free(&s.errbody);
	if (r == -EMSGSIZE)
		set_err(err, errlen, "s3: GET %s: object larger than %zu bytes", key, out->cap);
	if (r == 0) {
		c->stats.gets++;
		c->stats.get_bytes += out->len - before;
	}
	return r;
}

int s3_get_file(struct s3_client *c, const char *key, const char *path,
		char *err, size_t errlen)
{
	struct sink s;
	struct request rq = { .method = "GET", .key = key, .sink = &s };
	FILE *f;
	long size;
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || !(f = fdopen(fd, "wb"))) {
		r = -errno;
		set_err(err, errlen, "s3: create %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	sink_init(&s, NULL, f);
	r = perform(c, &rq, err, errlen);
	buf_free(&s.errbody);
	size = ftell(f);
	if (fclose(f) != 0 && r == 0) {
		r = -EIO;
		set_err(err, errlen, "s3: write %s: %s", path, strerror(errno));
	}
	if (r < 0) {
		unlink(path);
		return r;
	}
	c->stats.gets++;
	c->stats.get_bytes += size > 0 ? (uint64_t)size : 0;
	return 0;
}

int s3_delete(struct s3_client *c, const char *key, char *err, size_t errlen)
{
	struct sink s;
	struct request rq = { .method = "DELETE", .key = key, .sink = &s };
	int r;

	sink_init(&s, NULL, NULL);
	r = perform(c, &rq, err, errlen);
	buf_free(&s.errbody);
	/* Some stores answer 404 for a missing key; the key is gone either way. */
	if (r == -ENOENT && strstr(err, "NoSuchKey"))
		r = 0;
	if (r == 0)
		c->stats.deletes++;
	return r;
}

/* Adds the <Contents> entries of one ListObjectsV2 page to arr. */
static int parse_list_page(const char *xml, size_t len, cJSON *arr,
			   char *token, size_t tokenlen, int *truncated)
{
	char key[S3_MAX_KEY + 1], size[32], trunc[16];
	size_t pos = 0, end, p2;
	const char *ce;
	cJSON *o;
	int r;

	for (;;) {
		const char *cs = mem_find(xml + pos, len - pos, "<Contents>");

		if (!cs)
			break;
		ce = mem_find(cs, len - (size_t)(cs - xml), "</Contents>");
		if (!ce)
			return -EBADMSG;
		end = (size_t)(ce - xml);
		p2 = (size_t)(cs - xml);
		r = s3_xml_next(xml, end, "Key", &p2, key, sizeof(key));
		if (r != 1)
			return r < 0 ? r : -EBADMSG;
		p2 = (size_t)(cs - xml);
		if (s3_xml_next(xml, end, "Size", &p2, size, sizeof(size)) != 1)
			size[0] = '\0';
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", key);
		cJSON_AddNumberToObject(o, "size", strtod(size[0] ? size : "0", NULL));
		cJSON_AddItemToArray(arr, o);
		pos = end + strlen("</Contents>");
	}
	pos = 0;
	*truncated = s3_xml_next(xml, len, "IsTruncated", &pos, trunc, sizeof(trunc)) == 1 &&
		     strcmp(trunc, "true") == 0;
	pos = 0;
	token[0] = '\0';
	if (*truncated &&
	    s3_xml_next(xml, len, "NextContinuationToken", &pos, token, tokenlen) != 1)
		return -EBADMSG;
	return 0;
}

int s3_list(struct s3_client *c, const char *prefix, cJSON **out, char *err,
	    size_t errlen)
{
	char token[2048] = "";
	struct buf page, query;
	cJSON *arr = cJSON_CreateArray();
	int truncated = 1, r = 0;

	buf_init(&page, S3_MAX_LIST_PAGE);
	buf_init(&query, 8192);
	while (truncated && r == 0) {
		struct sink s;
		struct request rq = { .method = "GET", .key = "", .sink = &s };

		buf_reset(&page);
		buf_reset(&query);
		/* libcurl 7.88 signs the query as given, and SigV4 wants its
		 * parameters sorted by name. */
		if (token[0]) {
			r = buf_append_str(&query, "continuation-token=");
			if (r == 0)
				r = s3_encode_key(token, 0, &query);
			if (r == 0)
				r = buf_append_str(&query, "&");
		}
		if (r == 0)
			r = buf_append_str(&query, "list-type=2&prefix=");
		if (r == 0)
			r = s3_encode_key(prefix, 0, &query);
		if (r < 0) {
			set_err(err, errlen, "s3: list %s: prefix too long", prefix);
			break;
		}
		rq.query = buf_str(&query);
		rq.label = prefix;
		sink_init(&s, &page, NULL);
		r = perform(c, &rq, err, errlen);
		buf_free(&s.errbody);
		if (r < 0)
			break;
		c->stats.lists++;
		r = parse_list_page(page.data ? page.data : "", page.len, arr,
				    token, sizeof(token), &truncated);
		if (r < 0)
			set_err(err, errlen, "s3: list %s: answer not understood", prefix);
	}
	buf_free(&page);
	buf_free(&query);
	if (r < 0) {
		cJSON_Delete(arr);
		return r;
	}
	*out = arr;
	return 0;
}

/*
 * The client: every transfer runs on the client's streams thread through
 * one libcurl multi handle (streams.c), so that over HTTP/2 all of them,
 * watches included, are streams of one connection; a share object holds
 * DNS and TLS sessions. The pool keeps idle easy handles, for their
 * allocations only: the connections live in the multi handle's cache.
 *
 * Why one thread and not a shared connection cache: libcurl 7.88 documents
 * that sharing the connection cache (CURL_LOCK_DATA_CONNECT) between
 * concurrently running threads is not supported, and that HTTP/2 streams
 * are only multiplexed on a connection held by one multi or easy handle.
 * HTTP/2 is negotiated through ALPN when the server offers it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kube-private.h"

#ifndef PHO_VERSION
#define PHO_VERSION "dev"
#endif

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access acc,
		       void *userptr)
{
	struct kube_client *c = userptr;
	if (data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
	struct kube_client *c = userptr;
	if (data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

static CURL *pool_get(struct kube_client *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		return h;
	h = curl_easy_init();
	if (!h)
		abort();
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	return h;
}

static void pool_put(struct kube_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len < c->pool_max) {
		c->pool[c->pool_len++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

size_t kube_client_pool_size(struct kube_client *c)
{
	pthread_mutex_lock(&c->pool_lock);
	size_t n = c->pool_len;
	pthread_mutex_unlock(&c->pool_lock);
	return n;
}

/*
 * tls-server-name: libcurl takes the name to verify and send as SNI from
 * the URL, so the URL carries that name while CONNECT_TO points the
 * connection at the real address and the Host header keeps the real host.
 */
static int endpoint_init(struct kube_client *c, struct kube_endpoint *ep)
{
	const struct kube_config *cfg = c->cfg;
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *url = NULL;
	int err = -EINVAL;
	if (!u)
		abort();
	if (curl_url_set(u, CURLUPART_URL, cfg->server, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		log_error(c->log, "kube: invalid server URL %s", cfg->server);
		goto out;
	}
	c->host = util_xstrdup(host);
	ep->base_url = util_xstrdup(cfg->server);
	if (cfg->tls_server_name) {
		if (curl_url_set(u, CURLUPART_HOST, cfg->tls_server_name, 0) ||
		    curl_url_get(u, CURLUPART_URL, &url, 0)) {
			log_error(c->log, "kube: invalid tls-server-name %s",
				  cfg->tls_server_name);
			goto out;
		}
		size_t n = strlen(url);
		while (n && url[n - 1] == '/')
			n--;
		free(ep->base_url);
		ep->base_url = util_xstrndup(url, n);
		char line[600];
		snprintf(line, sizeof(line), "%s:%s:%s:%s",
			 cfg->tls_server_name, port, host, port);
		ep->connect_to = curl_slist_append(NULL, line);
		snprintf(line, sizeof(line), "Host: %s:%s", host, port);
		ep->host_header = util_xstrdup(line);
	}
	err = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	curl_url_cleanup(u);
	return err;
}

static void endpoint_free(struct kube_endpoint *ep)
{
	free(ep->base_url);
	curl_slist_free_all(ep->connect_to);
	free(ep->host_header);
}

static struct kube_endpoint *client_ep(struct kube_client *c)
{
	return &c->ep;
}

int kube_client_new(struct kube_config *cfg,
		    const struct kube_client_options *opts,
		    struct kube_client **out)
{
	static const struct kube_client_options defaults;
	if (!opts)
		opts = &defaults;
	if (!cfg || !out) {
		kube_config_free(cfg);
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct kube_client *c = util_xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	c->log = opts->log ? opts->log : cfg->log;
	c->user_agent = util_xstrdup(opts->user_agent ?
				     opts->user_agent :
				     "posthog-operator/" PHO_VERSION);
	c->max_body = opts->max_body ? opts->max_body : 64u << 20;
	c->retry_budget_ms = opts->retry_budget_ms ? opts->retry_budget_ms :
						     30000;
	c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 30000;
	c->backoff_base_ms = 250;
	c->backoff_max_ms = 8000;
	c->max_attempts = 10;
	c->on_request = opts->on_request;
	c->on_request_userdata = opts->on_request_userdata;
	kube_ratelimit_init(&c->rl, opts->qps == 0 ? 20 : opts->qps,
			    opts->burst ? opts->burst : 30);
	atomic_init(&c->rng, (uint64_t)kube_now_ms() ^ (uintptr_t)c);
	pthread_mutex_init(&c->pool_lock, NULL);
	c->pool_max = 32;
	c->disc = kube_discovery_new();
	c->pool = util_xcalloc(c->pool_max, sizeof(*c->pool));
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (!c->share)
		abort();
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	c->streams = kube_streams_new();
	/* Anything that does not parse here goes to libcurl as before. Not
	 * through an HTTPS proxy: libcurl calls the SSL_CTX callback for
	 * every TLS connection of the handle, the proxy's too
	 * (ossl_connect_step1 in lib/vtls/openssl.c at curl-7_88_1), and the
	 * proxy must not be checked against the cluster's CA. */
	if (!cfg->proxy_url || strncasecmp(cfg->proxy_url, "https://", 8))
		(void)kube_tls_new(&cfg->ca, &cfg->cert, &cfg->key, c->log, &c->tls);
	int err = endpoint_init(c, &c->ep);
	if (err) {
		kube_client_free(c);
		return err;
	}
	*out = c;
	return 0;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	/* First: its connections use the share's DNS and TLS sessions. */
	kube_streams_free(c->streams);
	for (size_t i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	kube_ratelimit_destroy(&c->rl);
	kube_discovery_free(c->disc);
	endpoint_free(client_ep(c));
	kube_tls_free(c->tls);
	kube_config_free(c->cfg);
	free(c->user_agent);
	free(c->host);
	free(c);
	curl_global_cleanup();
}

const struct kube_config *kube_client_config(const struct kube_client *c)
{
	return c->cfg;
}

void kube_client_set_backoff(struct kube_client *c, unsigned base_ms,
			     unsigned max_ms)
{
	c->backoff_base_ms = base_ms;
	c->backoff_max_ms = max_ms;
}

/* State of one attempt, shared with the libcurl callbacks. */
struct xfer {
	const struct kube_request *rq;
	CURL *h;
	long code;
	long retry_after;
	bool too_big;
	bool streamed;
	int stream_err;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (x->rq->stream) {
		long code = 0;
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300) {
			x->streamed = true;
			int err = x->rq->stream(x->rq->stream_userdata, ptr, len);
			if (err) {
				x->stream_err = err;
				return 0;
			}
			return len;
		}
	}
	if (!x->rq->out)
		return len;
	if (buf_append(x->rq->out, ptr, len) < 0) {
		x->too_big = true;
		return 0;
	}
	return len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	static const char ra[] = "retry-after:";
	if (len >= 5 && !strncmp(ptr, "HTTP/", 5))
		x->retry_after = -1; /* a new response (after 100 Continue) */
	else if (len > sizeof(ra) - 1 && !strncasecmp(ptr, ra, sizeof(ra) - 1))
		x->retry_after = kube_parse_retry_after(
			ptr + sizeof(ra) - 1, len - (sizeof(ra) - 1));
	return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	struct xfer *x = ud;
	return x->rq->cancel && atomic_load(x->rq->cancel) ? 1 : 0;
}

/* Wipes the Authorization line before the list goes back to malloc. */
static void headers_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		if (!strncasecmp(p->data, "Authorization:", 14))
			memset(p->data, 0, strlen(p->data));
	curl_slist_free_all(l);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h)
{
	struct curl_slist *n = curl_slist_append(l, h);
	if (!n)
		abort();
	return n;
}

static struct curl_slist *build_headers(struct kube_client *c,
					const struct kube_request *rq,
					const struct kube_creds *cr)
{
	struct curl_slist *l = NULL;
	l = add_header(l, "Accept: application/json");
	l = add_header(l, "Expect:"); /* no 100-continue round trip */
	if (client_ep(c)->host_header)
		l = add_header(l, client_ep(c)->host_header);
	if (rq->content_type) {
		char ct[256];
		snprintf(ct, sizeof(ct), "Content-Type: %s", rq->content_type);
		l = add_header(l, ct);
	}
	for (const char *const *h = rq->headers; h && *h; h++)
		l = add_header(l, *h);
	if (cr->token) {
		struct buf a;
		buf_init(&a, 64 * 1024);
		if (buf_printf(&a, "Authorization: Bearer %s", cr->token) == 0)
			l = add_header(l, buf_str(&a));
		kube_secret_free(a.data, a.len);
	}
	return l;
}

static bool same_blob(const struct kube_blob *a, const struct kube_blob *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

/*
 * The CA and the client certificate: the objects parsed once (tls.c) when
 * they are the kubeconfig's own, else PEM blobs that libcurl parses for
 * each new connection (an exec plugin's certificate, which can change).
 * Every option is set either way, since the handle is reused.
 */
static void set_tls(CURL *h, const struct kube_client *c,
		    const struct kube_creds *cr)
{
	const struct kube_config *cfg = c->cfg;
	bool ca = kube_tls_has_ca(c->tls);
	bool client = kube_tls_has_client(c->tls) && same_blob(&cr->cert, &cfg->cert) &&
		      same_blob(&cr->key, &cfg->key);

	if (ca || client) {
		curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION,
				 client ? kube_tls_ctx_all : kube_tls_ctx_ca);
		curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c->tls);
	} else {
		curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, NULL);
	}
	if (ca) {
		/* Only the kubeconfig's CA, as with the blob: not the
		 * system's bundle that libcurl loads by default. */
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, NULL);
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	} else if (cfg->ca.len) {
		struct curl_blob b = { cfg->ca.data, cfg->ca.len,
				       CURL_BLOB_COPY };
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (cfg->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (client) {
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, NULL);
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, NULL);
	} else if (cr->cert.len && cr->key.len) {
		struct curl_blob cb = { cr->cert.data, cr->cert.len,
					CURL_BLOB_COPY };
		struct curl_blob kb = { cr->key.data, cr->key.len,
					CURL_BLOB_COPY };
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

static void set_method(CURL *h, const struct kube_request *rq)
{
	if (!strcmp(rq->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		return;
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (rq->body || strcmp(rq->method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)rq->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				 rq->body ? rq->body : "");
	}
}

static void setup(struct kube_client *c, struct xfer *x, const char *url,
		  struct curl_slist *hdrs, const struct kube_creds *cr)
{
	CURL *h = x->h;
	const struct kube_request *rq = x->rq;
	unsigned timeout = rq->timeout_ms ? rq->timeout_ms : c->timeout_ms;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Over TLS, where ALPN may give HTTP/2, a transfer waits for the
	 * connection being made rather than making a second one, so that the
	 * requests started together (every informer's list and watch) become
	 * its streams. Not in clear text: libcurl 7.88 then waited for a busy
	 * HTTP/1.1 connection (a watch) to end (the unit test
	 * concurrent_watches). */
	if (!strncmp(url, "https://", 8))
		curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(timeout < 10000 ? timeout : 10000));
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (client_ep(c)->connect_to)
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, client_ep(c)->connect_to);
	if (c->cfg->proxy_url)
		curl_easy_setopt(h, CURLOPT_PROXY, c->cfg->proxy_url);
	set_tls(h, c, cr);
	if (cr->username) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, cr->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD,
				 cr->password ? cr->password : "");
	}
	set_method(h, rq);
}

/* Whether the request may have reached the server before the failure. */
static bool maybe_sent(CURLcode cc)
{
	return !(cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
		 cc == CURLE_COULDNT_RESOLVE_PROXY ||
		 cc == CURLE_SSL_CONNECT_ERROR);
}

/* One attempt. Returns 0 with x->code set when a response arrived. */
static int perform(struct kube_client *c, struct xfer *x, const char *url,
		   const struct kube_creds *cr, bool *sent)
{
	struct curl_slist *hdrs = build_headers(c, x->rq, cr);
	x->h = pool_get(c);
	x->code = 0;
	x->retry_after = -1;
	x->errbuf[0] = '\0';
	setup(c, x, url, hdrs, cr);
	CURLcode cc = kube_streams_perform(c->streams, x->h);
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->code);
	if (c->on_request) {
		curl_off_t us = 0;
		curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME_T, &us);
		c->on_request(c->on_request_userdata, x->rq->method, c->host,
			      cc == CURLE_OK ? (int)x->code : 0, (double)us / 1e6);
	}
	/* Options point at this attempt's memory: forget them before the
	 * handle goes back to the pool. */
	curl_easy_reset(x->h);
	pool_put(c, x->h);
	x->h = NULL;
	headers_free(hdrs);
	*sent = maybe_sent(cc);
	if (cc == CURLE_OK)
		return 0;
	if (x->stream_err)
		return x->stream_err;
	return kube_errno_from_curl(cc, x->too_big);
}

static void truncate_out(const struct kube_request *rq, size_t len)
{
	if (rq->out && rq->out->len > len) {
		rq->out->len = len;
		rq->out->data[len] = '\0';
	}
}

static uint64_t rng_next(struct kube_client *c)
{
	return atomic_fetch_add(&c->rng, 0x9e3779b97f4a7c15ull);
}

/* Decides after a failed attempt; returns the wait in ms or -1. */
static int64_t next_wait(struct kube_client *c, const struct xfer *x,
			 int err, bool sent, unsigned n, uint64_t start)
{
	if (x->streamed || n + 1 >= c->max_attempts)
		return -1;
	struct kube_attempt a = {
		.method = x->rq->method,
		.code = err ? 0 : (int)x->code,
		.err = err,
		.sent = sent,
		.retry_after_s = err ? -1 : x->retry_after,
	};
	if (!err && x->code < 400)
		return -1;
	uint64_t rng = rng_next(c);
	unsigned budget = x->rq->retry_budget_ms ? x->rq->retry_budget_ms :
						   c->retry_budget_ms;
	return kube_retry_delay(&a, n, kube_now_ms() - start,
				budget, c->backoff_base_ms,
				c->backoff_max_ms, &rng);
}

int kube_exchange(struct kube_client *c, const struct kube_request *rq,
		  int *code, struct kube_status *st)
{
	struct kube_endpoint *ep = client_ep(c);
	size_t url_len = strlen(ep->base_url) + strlen(rq->path) + 1;
	char *url = util_xmalloc(url_len);
	snprintf(url, url_len, "%s%s", ep->base_url, rq->path);
	size_t out_start = rq->out ? rq->out->len : 0;
	uint64_t start = kube_now_ms();
	bool reauthed = false, stream_stopped = false;
	int err;
	for (unsigned n = 0;; n++) {
		err = kube_ratelimit_wait(&c->rl, rq->cancel);
		if (err)
			break;
		struct kube_creds cr = { 0 };
		err = kube_config_credentials(c->cfg, &cr);
		if (err) {
			kube_status_set(st, 0, "", "cannot obtain credentials");
			break;
		}
		truncate_out(rq, out_start);
		struct xfer x = { .rq = rq };
		bool sent = false;
		err = perform(c, &x, url, &cr, &sent);
		kube_creds_free(&cr);
		if (!err && x.code == 401 && !reauthed &&
		    kube_config_invalidate(c->cfg)) {
			/* A rotated token or an expired exec credential: fetch
			 * fresh credentials once and try again at once. */
			reauthed = true;
			n--;
			continue;
		}
		stream_stopped = x.stream_err != 0;
		int64_t wait = next_wait(c, &x, err, sent, n, start);
		if (wait < 0) {
			if (!err)
				*code = (int)x.code;
			else if (x.too_big)
				kube_status_set(st, (int)x.code, "",
						"response body over the cap");
			else if (err != -ECANCELED && !x.stream_err)
				kube_status_set(st, 0, "", x.errbuf[0] ?
					x.errbuf : kube_strerror(err));
			if (err == -ECANCELED)
				kube_status_set(st, 0, "", "cancelled");
			break;
		}
		log_debug(c->log, "kube: %s %s: %s %ld, retrying in %lld ms",
			  rq->method, rq->path, err ? kube_strerror(err) : "HTTP",
			  err ? 0L : x.code, (long long)wait);
		err = kube_sleep_ms((uint64_t)wait, rq->cancel);
		if (err)
			break;
	}
	/* A stream's failures (its own verdict, the callback's stop, a
	 * dropped connection) are the stream owner's to report, once, with
	 * what it knows of the watch (kube_watch_run logs them). */
	if (err && err != -ECANCELED && err != -EFBIG && !stream_stopped && !rq->stream &&
	    !rq->quiet)
		log_warn(c->log, "kube: %s %s: %s", rq->method, rq->path,
			 st ? st->message : kube_strerror(err));
	free(url);
	return err;
}

int kube_call(struct kube_client *c, const char *method, const char *path,
	      const char *content_type, const cJSON *body, cJSON **out,
	      struct kube_status *st)
{
	char *text = NULL;
	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text)
			abort();
	}
	struct buf resp;
	buf_init(&resp, c->max_body);
	struct kube_request rq = {
		.method = method,
		.path = path,
		.content_type = content_type,
		.body = text,
		.body_len = text ? strlen(text) : 0,
		.out = &resp,
	};
	int code = 0;
	int err = kube_exchange(c, &rq, &code, st);
	if (err)
		goto out;
	if (code < 200 || code > 299) {
		err = kube_status_from_response(code, resp.data, resp.len, st);
		log_debug(c->log, "kube: %s %s: %d %s", method, path, code,
			  kube_strerror(err));
		goto out;
	}
	kube_status_set(st, code, "", "");
	if (!out)
		goto out;
	cJSON *doc = cJSON_ParseWithLength(resp.data, resp.len);
	if (!doc) {
		err = -EBADMSG;
		kube_status_set(st, code, "", "response is not JSON");
		log_warn(c->log, "kube: %s %s: response is not JSON", method,
			 path);
		goto out;
	}
	*out = doc;
out:
	buf_free(&resp);
	free(text);
	return err;
}

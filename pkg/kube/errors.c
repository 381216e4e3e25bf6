/*
 * The one place where HTTP statuses, Status documents and transport
 * failures become error codes. Everything else in the module propagates
 * what these functions return.
 */
#include <stdio.h>
#include <string.h>

#include "kube-private.h"

int kube_errno_from_http(int code, const char *reason)
{
	if (code >= 200 && code < 300)
		return 0;
	switch (code) {
	case 400: return -EBADMSG;
	case 401: return -EACCES;
	case 403: return -EPERM;
	case 404: return -ENOENT;
	case 405: return -EOPNOTSUPP;
	case 408: return -ETIMEDOUT;
	case 409:
		return reason && !strcmp(reason, "AlreadyExists") ?
			       -EEXIST : KUBE_ECONFLICT;
	case 410: return KUBE_EGONE;
	case 413: return -E2BIG;
	case 415: return -EPROTO;
	case 422: return -EINVAL;
	case 429: return -EBUSY;
	case 504: return -ETIMEDOUT;
	default: break;
	}
	if (code >= 500 && code < 600)
		return -EIO;
	if (code >= 400 && code < 500)
		return -EBADMSG;
	/* 1xx and 3xx are never final answers from the API server. */
	return -EPROTO;
}

/* Codes that no HTTP status stands for, as callers above this module meet
 * them (ClickHouse, files, the manager): libc's description. Unlike
 * strerror(), strerrordesc_np() needs no buffer, so it is thread-safe, and
 * it answers NULL for a value that is no errno. */
static const char *other_strerror(int err)
{
	const char *d = err < 0 ? strerrordesc_np(-err) : NULL;

	return d ? d : "unknown error";
}

const char *kube_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case KUBE_ECONFLICT:
		return "conflict: stale resourceVersion or apply conflict";
	case KUBE_EGONE: return "gone: resourceVersion too old, relist";
	case -EBADMSG: return "bad request";
	case -EACCES: return "unauthorized";
	case -EPERM: return "forbidden";
	case -ENOENT: return "not found";
	case -EOPNOTSUPP: return "method not allowed";
	case -EEXIST: return "already exists";
	case -E2BIG: return "request entity too large";
	case -EPROTO: return "protocol error";
	case -EINVAL: return "invalid";
	case -EBUSY: return "too many requests";
	case -EIO: return "server error";
	case -ETIMEDOUT: return "timed out";
	case -ECONNREFUSED: return "connection refused";
	case -EHOSTUNREACH: return "host unreachable";
	case -ECONNRESET: return "connection reset";
	case -EFBIG: return "response too large";
	case -ECANCELED: return "cancelled";
	case -ENOMEM: return "out of memory";
	case -EMSGSIZE: return "message too large";
	case -EKEYREJECTED: return "TLS verification failed";
	default: return other_strerror(err);
	}
}

static void copy_trunc(char *dst, size_t dstsz, const char *src, size_t len)
{
	if (len >= dstsz)
		len = dstsz - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

void kube_status_set(struct kube_status *st, int code, const char *reason,
		     const char *message)
{
	if (!st)
		return;
	st->code = code;
	copy_trunc(st->reason, sizeof(st->reason), reason ? reason : "",
		   reason ? strlen(reason) : 0);
	copy_trunc(st->message, sizeof(st->message), message ? message : "",
		   message ? strlen(message) : 0);
}

int kube_status_from_json(const cJSON *status, int fallback_code,
			  struct kube_status *st)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
	const cJSON *reason =
		cJSON_GetObjectItemCaseSensitive(status, "reason");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(status, "message");
	int c = fallback_code;
	if (cJSON_IsNumber(code) && code->valuedouble >= 100 &&
	    code->valuedouble < 600)
		c = (int)code->valuedouble;
	const char *r = cJSON_IsString(reason) ? reason->valuestring : NULL;
	kube_status_set(st, c, r,
			cJSON_IsString(msg) ? msg->valuestring : NULL);
	return kube_errno_from_http(c, r);
}

/* A Status carries the reason that tells AlreadyExists from Conflict;
 * anything else (a proxy's HTML page) is kept as the message. */
int kube_status_from_response(int code, const char *body, size_t len,
			      struct kube_status *st)
{
	cJSON *doc = len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
	int err;
	if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "Status")) {
		/* The HTTP code wins over the body's: they agree in practice
		 * and the HTTP one is what proxies and metrics see. */
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "reason");
		kube_status_from_json(doc, code, st);
		if (st)
			st->code = code;
		err = kube_errno_from_http(
			code, cJSON_IsString(r) ? r->valuestring : NULL);
	} else {
		err = kube_errno_from_http(code, NULL);
		if (st) {
			st->code = code;
			st->reason[0] = '\0';
			copy_trunc(st->message, sizeof(st->message),
				   body ? body : "", body ? len : 0);
		}
	}
	cJSON_Delete(doc);
	return err;
}

int kube_errno_from_curl(CURLcode cc, bool too_big)
{
	if (too_big)
		return -EFBIG;
	switch (cc) {
	case CURLE_OK: return 0;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR: return -EKEYREJECTED;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR: return -ECONNRESET;
	case CURLE_URL_MALFORMAT: return -EINVAL;
	default: return -EPROTO;
	}
}

/* Small helpers: allocation, files, base64, time, query strings. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube-private.h"

/* Secrets are wiped before they go back to the allocator so that a core
 * dump or a later heap disclosure does not carry them. */
void kube_secret_free(void *p, size_t n)
{
	if (!p)
		return;
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
	free(p);
}

void kube_secret_free_str(char *s)
{
	if (s)
		kube_secret_free(s, strlen(s));
}

void kube_blob_set(struct kube_blob *b, const void *data, size_t len)
{
	kube_blob_clear(b);
	b->data = util_xmalloc(len + 1);
	memcpy(b->data, data, len);
	b->data[len] = '\0';
	b->len = len;
}

void kube_blob_clear(struct kube_blob *b)
{
	kube_secret_free(b->data, b->len);
	b->data = NULL;
	b->len = 0;
}

void kube_blob_copy(struct kube_blob *dst, const struct kube_blob *src)
{
	if (src->data)
		kube_blob_set(dst, src->data, src->len);
	else
		kube_blob_clear(dst);
}

int kube_read_file(const char *path, size_t cap, char **out, size_t *len)
{
	/* O_NONBLOCK keeps a FIFO named in a hostile kubeconfig from
	 * blocking us; the S_ISREG check then refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat sb;
	int err = 0;
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		err = -EINVAL;
		goto out_close;
	}
	struct buf b;
	buf_init(&b, cap);
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			err = -EFBIG;
			break;
		}
	}
	if (err) {
		kube_secret_free(b.data, b.len);
		goto out_close;
	}
	*len = b.len;
	*out = buf_take(&b);
out_close:
	close(fd);
	return err;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int kube_base64_decode(const char *in, size_t len, unsigned char **out,
		       size_t *outlen)
{
	unsigned char *o = util_xmalloc(len / 4 * 3 + 4);
	size_t n = 0, pad = 0;
	unsigned acc = 0, bits = 0, digits = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64val(c);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		digits++;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* One leftover digit cannot encode a byte; padding must complete a
	 * quantum when present. */
	if (digits % 4 == 1 || pad > 2 || (pad && (digits + pad) % 4))
		goto bad;
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
bad:
	kube_secret_free(o, len / 4 * 3 + 4);
	return -EINVAL;
}

char *kube_base64_encode(const unsigned char *in, size_t len)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = util_xmalloc((len + 2) / 3 * 4 + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		o[n++] = tbl[(v >> 18) & 63];
		o[n++] = tbl[(v >> 12) & 63];
		o[n++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		o[n++] = i + 2 < len ? tbl[v & 63] : '=';
	}
	o[n] = '\0';
	return o;
}

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c && !(c == 'T' && **p == 't'))
		return false;
	(*p)++;
	return true;
}

int kube_parse_rfc3339(const char *s, time_t *out)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) ||
	    !expect(&p, '-') || !digits(&p, 2, &d) || !expect(&p, 'T') ||
	    !digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) ||
	    !expect(&p, ':') || !digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (!digits(&p, 2, &oh) || !expect(&p, ':') ||
		    !digits(&p, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -EINVAL;
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = sec,
	};
	time_t t = timegm(&tm);
	*out = t - sign * (oh * 3600 + om * 60);
	return 0;
}

uint64_t kube_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleeping in short slices keeps cancellation responsive without a
 * condition variable per waiter. */
int kube_sleep_ms(uint64_t ms, const atomic_bool *cancel)
{
	uint64_t end = kube_now_ms() + ms;
	for (;;) {
		if (cancel && atomic_load(cancel))
			return -ECANCELED;
		uint64_t now = kube_now_ms();
		if (now >= end)
			return 0;
		uint64_t slice = end - now > 50 ? 50 : end - now;
		struct timespec ts = {
			.tv_sec = 0, .tv_nsec = (long)(slice * 1000000u),
		};
		nanosleep(&ts, NULL);
	}
}

static int escape_into(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int err;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			err = buf_append(b, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			err = buf_append(b, e, 3);
		}
		if (err)
			return err;
	}
	return 0;
}

int kube_query_add(struct buf *b, const char *key, const char *value)
{
	const char *sep = strchr(buf_str(b), '?') ? "&" : "?";
	int err = buf_append_str(b, sep);
	if (!err)
		err = escape_into(b, key);
	if (!err)
		err = buf_append_str(b, "=");
	if (!err)
		err = escape_into(b, value);
	return err;
}

void kube_time_now(char out[KUBE_TIME_LEN])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, KUBE_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kube_micro_time_now(char out[KUBE_TIME_LEN])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, KUBE_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, KUBE_TIME_LEN - n, ".%06dZ", (int)(ts.tv_nsec / 1000) % 1000000);
}

static const char *str_of(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool kube_pod_ready(const cJSON *pod)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status"), *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions")) {
		const char *type = str_of(c, "type"), *status = str_of(c, "status");

		if (type && !strcmp(type, "Ready"))
			return status && !strcmp(status, "True");
	}
	return false;
}

const cJSON *kube_list_find(const cJSON *list, const char *name)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
		const char *n = str_of(cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");

		if (n && name && !strcmp(n, name))
			return it;
	}
	return NULL;
}

/*
 * A ustar archive (POSIX.1-1988, as GNU tar and bsdtar read it) compressed
 * with gzip (zlib's deflate with the gzip wrapper), built in memory. No
 * libarchive: the Debian machines here do not have it, and a support bundle
 * needs only regular files with short names. Every member and the whole
 * archive have a cap, so a huge log cannot fill the disk or the memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pkg/util/util.h"
#include "plugin.h"

struct kp_tar {
	struct buf raw; /* the uncompressed archive, capped */
};

int kp_tar_new(size_t max_total, struct kp_tar **out)
{
	struct kp_tar *t = util_xcalloc(1, sizeof(*t));

	buf_init(&t->raw, max_total ? max_total : KP_TAR_MAX_TOTAL);
	*out = t;
	return 0;
}

void kp_tar_free(struct kp_tar *t)
{
	if (!t)
		return;
	buf_free(&t->raw);
	free(t);
}

/* An octal field of width w (w-1 digits and a NUL). */
static void octal(char *field, size_t w, unsigned long long v)
{
	snprintf(field, w, "%0*llo", (int)(w - 1), v);
}

int kp_tar_add(struct kp_tar *t, const char *name, const void *data, size_t len,
	       time_t mtime)
{
	unsigned char h[512] = {0};
	static const unsigned char zero[512];
	size_t pad = (512 - len % 512) % 512;
	unsigned sum = 0;
	size_t before = t->raw.len;

	if (strlen(name) >= 100)
		return -ENAMETOOLONG;
	if (len > KP_TAR_MAX_FILE)
		return -EFBIG;
	if (t->raw.len + 512 + len + pad + 1024 > t->raw.cap)
		return -EMSGSIZE;
	memcpy(h, name, strlen(name));
	octal((char *)h + 100, 8, 0644);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, len);
	octal((char *)h + 136, 12, mtime > 0 ? (unsigned long long)mtime : 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	if (buf_append(&t->raw, h, sizeof(h)) || buf_append(&t->raw, data, len) ||
	    buf_append(&t->raw, zero, pad)) {
		t->raw.len = before;
		return -EMSGSIZE;
	}
	return 0;
}

int kp_tar_finish(struct kp_tar *t, unsigned char **out, size_t *len)
{
	static const unsigned char end[1024];
	z_stream z = {0};
	unsigned char *dst;
	uLong bound;
	int zr;

	/* The cap left room for the two zero blocks that end an archive. */
	t->raw.cap += sizeof(end);
	if (buf_append(&t->raw, end, sizeof(end)))
		return -EMSGSIZE;
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)t->raw.len) + 64;
	dst = util_xmalloc(bound);
	z.next_in = (Bytef *)t->raw.data;
	z.avail_in = (uInt)t->raw.len;
	z.next_out = dst;
	z.avail_out = (uInt)bound;
	zr = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (zr != Z_STREAM_END) {
		free(dst);
		return -EIO;
	}
	*out = dst;
	*len = bound - z.avail_out;
	return 0;
}

/*
 * The file progress store of reshard.h: the document is replaced by
 * writing a temporary file beside it, fsync, rename, and fsync of the
 * folder, so that a kill leaves either the old or the new document.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/util/util.h"
#include "reshard.h"

#define STORE_CAP (64u * 1024u * 1024u)

static int file_load(void *userdata, cJSON **doc, char *err, size_t errlen)
{
	const char *path = userdata;
	struct buf b;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	*doc = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	buf_init(&b, STORE_CAP);
	while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0)
			rc = errno == EINTR ? 0 : -errno;
		else
			rc = buf_append(&b, chunk, (size_t)n);
	}
	close(fd);
	if (!rc && b.len) {
		*doc = cJSON_Parse(buf_str(&b));
		if (!*doc)
			rc = -EBADMSG;
	}
	if (rc)
		snprintf(err, errlen, "%s: %s", path,
			 rc == -EBADMSG ? "not JSON" : rc == -EMSGSIZE ? "larger than 64 MiB" : strerror(-rc));
	buf_free(&b);
	return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int file_save(void *userdata, const cJSON *doc, char *err, size_t errlen)
{
	const char *path = userdata;
	char tmp[4096], dir[4096];
	char *text = util_nn(cJSON_Print(doc));
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		free(text);
		snprintf(err, errlen, "progress path too long");
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = -errno;
	if (!rc)
		rc = write_all(fd, text, strlen(text));
	if (!rc && fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	free(text);
	if (!rc) {
		snprintf(dir, sizeof(dir), "%s", path);
		fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	if (rc)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	return rc;
}

void rs_file_store(const char *path, struct rs_store *out)
{
	out->load = file_load;
	out->save = file_save;
	out->userdata = (void *)path;
}

/*
 * zookeeper: the pure half. The configuration text's format is
 * ZooKeeper's (zookeeperReconfig.md, "Specifying the client port"):
 *   server.<id>=<address>:<quorum port>:<election port>[:role][;[<address>:]<client port>]
 * and the version line getConfig appends ("version=<hex zxid>").
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zk.h"

static int bad(char *err, size_t errlen, const char *line, size_t n, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "zookeeper configuration line \"%.*s\": %s",
			 (int)(n > 120 ? 120 : n), line, why);
	return -EINVAL;
}

/* Parses digits in [s, end) in base; false when empty, not all digits or
 * above max. */
static bool number(const char *s, const char *end, int base, unsigned long long max,
		   unsigned long long *out)
{
	unsigned long long v = 0;

	if (s >= end)
		return false;
	for (; s < end; s++) {
		int d = isdigit((unsigned char)*s) ? *s - '0'
			: (base == 16 && isxdigit((unsigned char)*s))
				? tolower((unsigned char)*s) - 'a' + 10
				: -1;

		if (d < 0 || v > (max - (unsigned)d) / (unsigned)base)
			return false;
		v = v * (unsigned)base + (unsigned)d;
	}
	*out = v;
	return true;
}

/* The role field of "addr:p1:p2[:role]" (the part before ';'). */
static int role_of(const char *s, const char *end, enum zk_role *role)
{
	const char *c = end;
	int colons = 0;

	for (const char *p = s; p < end; p++)
		colons += *p == ':';
	*role = ZK_PARTICIPANT;
	if (colons < 2)
		return -EINVAL;
	if (colons == 2)
		return 0;
	while (c > s && c[-1] != ':')
		c--;
	if ((size_t)(end - c) == 11 && !strncmp(c, "participant", 11))
		return 0;
	if ((size_t)(end - c) == 8 && !strncmp(c, "observer", 8)) {
		*role = ZK_OBSERVER;
		return 0;
	}
	/* An IPv6 address has colons of its own: "[::1]:2888:3888". */
	return s[0] == '[' && colons > 2 ? 0 : -EINVAL;
}

static int server_line(const char *line, size_t n, struct zk_config *out, char *err,
		       size_t errlen)
{
	const char *end = line + n, *eq = memchr(line, '=', n), *semi;
	unsigned long long id;
	enum zk_role role;

	if (!eq || !number(line + 7, eq, 10, 255, &id) || id == 0)
		return bad(err, errlen, line, n, "the server id must be 1 to 255");
	semi = memchr(eq, ';', (size_t)(end - eq));
	if (role_of(eq + 1, semi ? semi : end, &role) < 0)
		return bad(err, errlen, line, n, "expected address:port:port[:participant|observer]");
	for (size_t i = 0; i < out->n; i++)
		if (out->servers[i].id == (int)id)
			return bad(err, errlen, line, n, "the server id appears twice");
	if (out->n == ZK_MAX_SERVERS)
		return bad(err, errlen, line, n, "too many servers");
	out->servers[out->n].id = (int)id;
	out->servers[out->n++].role = role;
	return 0;
}

static int by_id(const void *a, const void *b)
{
	return ((const struct zk_server *)a)->id - ((const struct zk_server *)b)->id;
}

int zk_config_parse(const char *text, struct zk_config *out, char *err, size_t errlen)
{
	struct zk_config c = {.version = -1};
	const char *p = text;
	unsigned long long v;
	int r = 0;

	if (!text || strlen(text) > ZK_MAX_CONFIG)
		return bad(err, errlen, "", 0, "missing or longer than the limit");
	while (*p && r == 0) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0)
			;
		else if (n > 8 && !strncmp(p, "version=", 8)) {
			if (!number(p + 8, p + n, 16, (unsigned long long)INT64_MAX, &v))
				r = bad(err, errlen, p, n, "the version must be hexadecimal");
			c.version = (int64_t)v;
		} else if (n > 7 && !strncmp(p, "server.", 7))
			r = server_line(p, n, &c, err, errlen);
		else
			r = bad(err, errlen, p, n, "neither a server nor the version");
		p = nl ? nl + 1 : p + strlen(p);
	}
	if (r < 0)
		return r;
	qsort(c.servers, c.n, sizeof(c.servers[0]), by_id);
	*out = c;
	return 0;
}

const char *zk_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENOENT:
		return "no such znode";
	case -EEXIST:
		return "the znode exists";
	case -ESTALE:
		return "the configuration changed since it was read";
	case -EAGAIN:
		return "no quorum of the new configuration is connected and synced";
	case -EBUSY:
		return "another reconfiguration is in progress";
	case -EOPNOTSUPP:
		return "reconfiguration is disabled (reconfigEnabled)";
	case -EACCES:
		return "not allowed";
	case -EINVAL:
		return "invalid argument";
	case -ETIMEDOUT:
		return "no answer from the ensemble";
	default:
		return "zookeeper error";
	}
}

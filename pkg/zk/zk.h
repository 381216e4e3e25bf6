/*
 * zk: a small wrapper over ZooKeeper's own C client (Debian's
 * libzookeeper-mt-dev, the "mt" flavour with its own I/O thread) for what
 * the operator does to a ZooKeeper ensemble: read and change its dynamic
 * configuration (getConfig and reconfig, ZooKeeper 3.5 and later), prove
 * that a quorum commits writes, and remove a znode tree (a ClickHouse
 * replica's metadata). docs/scaling.md says why this client and not a
 * protocol implementation of our own.
 *
 * Handles are opaque; every function returns 0 or a negative errno (the
 * client's codes are mapped in one place, zk_errno) and puts the reason,
 * with the path or server it concerns, in err: callers log it once.
 * A handle is used from one thread at a time.
 */
#ifndef PHO_ZK_H
#define PHO_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zk;

/* Longest configuration text and znode payload read (ZooKeeper's own
 * default jute.maxbuffer is 1 MiB; a membership list is a few hundred
 * bytes per server). */
#define ZK_MAX_CONFIG (64 * 1024)
/* Most servers in a parsed configuration. */
#define ZK_MAX_SERVERS 255

/*
 * Connects to hosts ("host:port,host:port") and waits up to wait_ms for a
 * session. session_ms is the session timeout asked for. Returns 0, or
 * -ETIMEDOUT when no server answered, -EHOSTUNREACH when the host list
 * cannot be resolved or used, -EINVAL when it is empty.
 * Caller frees *out with zk_close.
 */
int zk_open(const char *hosts, int session_ms, int wait_ms, struct zk **out,
	    char *err, size_t errlen);
/* Closes the session. Accepts NULL. */
void zk_close(struct zk *z);

/*
 * The configuration the connected server knows (/zookeeper/config):
 * "server.N=..." lines and "version=<hex>". *text is a new string (caller
 * frees). Returns 0 or a negative errno.
 */
int zk_get_config(struct zk *z, char **text, char *err, size_t errlen);

/*
 * Incremental reconfig: joining ("server.4=host:2888:3888:participant;2181",
 * comma-separated, or NULL) and leaving ("5", comma-separated ids, or
 * NULL), applied only when the configuration's version is still
 * from_version (-1: any). *new_config (may be NULL) gets the committed
 * configuration (caller frees). Returns 0; -ESTALE (the configuration
 * changed since from_version), -EAGAIN (no quorum of the new
 * configuration is connected and synced), -EBUSY (another reconfig is in
 * progress), -EOPNOTSUPP (reconfigEnabled is false), -EACCES (no right to
 * /zookeeper/config), -EINVAL (refused arguments), or another negative
 * errno.
 */
int zk_reconfig(struct zk *z, const char *joining, const char *leaving,
		int64_t from_version, char **new_config, char *err, size_t errlen);

/*
 * Writes data to path, creating it (persistent, open ACL) when missing:
 * returns only once a quorum committed it, so a success proves the
 * ensemble commits writes. Returns 0 or a negative errno.
 */
int zk_put(struct zk *z, const char *path, const char *data, char *err,
	   size_t errlen);

/* Sets *exists. Returns 0 or a negative errno. */
int zk_exists(struct zk *z, const char *path, bool *exists, char *err,
	      size_t errlen);

/* The children of path as a new NULL-terminated array of new strings
 * (free with zk_strings_free). Returns 0, -ENOENT or a negative errno. */
int zk_children(struct zk *z, const char *path, char ***names, char *err,
		size_t errlen);
void zk_strings_free(char **names);

/* Deletes path and everything below it, depth first. A node already gone
 * is not an error. Returns 0 or a negative errno. */
int zk_delete_tree(struct zk *z, const char *path, char *err, size_t errlen);

/* ---- the configuration text (pure) ----------------------------------------- */

enum zk_role { ZK_PARTICIPANT, ZK_OBSERVER };

struct zk_server {
	int id;
	enum zk_role role;
};

struct zk_config {
	int64_t version; /* -1 when the text has no version line */
	size_t n;
	struct zk_server servers[ZK_MAX_SERVERS]; /* in id order */
};

/*
 * Parses getConfig's text: "server.<id>=<address>:<port>:<port>[:role]
 * [;[<address>:]<port>]" lines (ids 1..255, role participant or
 * observer, participant when absent) and "version=<hex>". Blank lines are
 * skipped; any other line, a duplicate id or a text longer than
 * ZK_MAX_CONFIG is -EINVAL with the line in err.
 */
int zk_config_parse(const char *text, struct zk_config *out, char *err,
		    size_t errlen);

/* The negative errno for one of the client's ZOK/Z* codes. */
int zk_errno(int zoo_rc);
/* One message per errno this module returns. */
const char *zk_strerror(int err);

#endif

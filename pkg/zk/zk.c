/*
 * zookeeper: the I/O half, over libzookeeper_mt. The client runs its own
 * I/O and completion threads; the synchronous calls used here block the
 * caller until the server answered or the session's timeout passed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zookeeper/zookeeper.h>

#include "pkg/util/util.h"
#include "zk.h"

struct zk {
	zhandle_t *zh;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int state; /* the last session state the watcher saw */
};

/* The client's own log lines (every reconnect attempt) would flood the
 * operator's log; failures reach callers through return codes instead. */
static void quiet_log(const char *message)
{
	(void)message;
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zk *z = ctx;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT || !z)
		return;
	pthread_mutex_lock(&z->lock);
	z->state = state;
	pthread_cond_broadcast(&z->changed);
	pthread_mutex_unlock(&z->lock);
}

static void fail(char *err, size_t errlen, int rc, const char *what, const char *path)
{
	if (err && errlen)
		snprintf(err, errlen, "zookeeper: %s %s: %s", what, path ? path : "",
			 zerror(rc));
}

static int wait_connected(struct zk *z, int wait_ms)
{
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&z->lock);
	while (z->state != ZOO_CONNECTED_STATE && r == 0) {
		if (z->state == ZOO_AUTH_FAILED_STATE)
			r = EACCES;
		else
			r = pthread_cond_timedwait(&z->changed, &z->lock, &until);
	}
	pthread_mutex_unlock(&z->lock);
	return r == 0 ? 0 : (r == EACCES ? -EACCES : -ETIMEDOUT);
}

int zk_open(const char *hosts, int session_ms, int wait_ms, struct zk **out,
	    char *err, size_t errlen)
{
	struct zk *z;
	int r;

	if (!hosts || !*hosts || session_ms <= 0 || wait_ms < 0) {
		snprintf(err, errlen, "zookeeper: no host list");
		return -EINVAL;
	}
	z = util_xcalloc(1, sizeof(*z));
	pthread_mutex_init(&z->lock, NULL);
	pthread_cond_init(&z->changed, NULL);
	z->zh = zookeeper_init2(hosts, watcher, session_ms, NULL, z, 0, quiet_log);
	if (!z->zh) {
		/* The client resolves every host at once: a name that does
		 * not resolve (yet) lands here too. */
		r = -EHOSTUNREACH;
		snprintf(err, errlen, "zookeeper: cannot resolve or use the host list \"%.200s\"", hosts);
		goto fail;
	}
	r = wait_connected(z, wait_ms);
	if (r < 0) {
		snprintf(err, errlen, "zookeeper: no session with %.200s within %d ms", hosts,
			 wait_ms);
		goto fail;
	}
	*out = z;
	return 0;
fail:
	zk_close(z);
	return r;
}

void zk_close(struct zk *z)
{
	if (!z)
		return;
	if (z->zh)
		zookeeper_close(z->zh);
	pthread_cond_destroy(&z->changed);
	pthread_mutex_destroy(&z->lock);
	free(z);
}

int zk_get_config(struct zk *z, char **text, char *err, size_t errlen)
{
	char *buf = util_xmalloc(ZK_MAX_CONFIG + 1);
	int len = ZK_MAX_CONFIG, rc;

	rc = zoo_getconfig(z->zh, 0, buf, &len, NULL);
	if (rc != ZOK) {
		fail(err, errlen, rc, "reading", ZOO_CONFIG_NODE);
		free(buf);
		return zk_errno(rc);
	}
	buf[len < 0 ? 0 : len] = '\0';
	*text = buf;
	return 0;
}

int zk_reconfig(struct zk *z, const char *joining, const char *leaving,
		int64_t from_version, char **new_config, char *err, size_t errlen)
{
	char *buf = util_xmalloc(ZK_MAX_CONFIG + 1);
	int len = ZK_MAX_CONFIG, rc;

	rc = zoo_reconfig(z->zh, joining, leaving, NULL, from_version, buf, &len, NULL);
	if (rc != ZOK) {
		if (err && errlen)
			snprintf(err, errlen, "zookeeper: reconfig (joining %.200s, leaving %.40s): %s",
				 joining ? joining : "-", leaving ? leaving : "-", zerror(rc));
		free(buf);
		return zk_errno(rc);
	}
	buf[len < 0 ? 0 : len] = '\0';
	if (new_config)
		*new_config = buf;
	else
		free(buf);
	return 0;
}

int zk_put(struct zk *z, const char *path, const char *data, char *err, size_t errlen)
{
	int n = (int)strlen(data);
	int rc = zoo_set(z->zh, path, data, n, -1);

	if (rc == ZNONODE) {
		rc = zoo_create(z->zh, path, data, n, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
		if (rc == ZNODEEXISTS)
			rc = zoo_set(z->zh, path, data, n, -1);
	}
	if (rc != ZOK)
		fail(err, errlen, rc, "writing", path);
	return zk_errno(rc);
}

int zk_exists(struct zk *z, const char *path, bool *exists, char *err, size_t errlen)
{
	int rc = zoo_exists(z->zh, path, 0, NULL);

	if (rc == ZOK || rc == ZNONODE) {
		*exists = rc == ZOK;
		return 0;
	}
	fail(err, errlen, rc, "reading", path);
	return zk_errno(rc);
}

void zk_strings_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

int zk_children(struct zk *z, const char *path, char ***names, char *err, size_t errlen)
{
	struct String_vector v = {0};
	char **out;
	int rc = zoo_get_children(z->zh, path, 0, &v);

	if (rc != ZOK) {
		fail(err, errlen, rc, "listing", path);
		return zk_errno(rc);
	}
	out = util_xcalloc((size_t)v.count + 1, sizeof(*out));
	for (int i = 0; i < v.count; i++)
		out[i] = util_xstrdup(v.data[i]);
	deallocate_String_vector(&v);
	*names = out;
	return 0;
}

/* Paths are bounded by ZooKeeper itself; depth by the tree, which for a
 * ClickHouse replica is a handful of levels. */
int zk_delete_tree(struct zk *z, const char *path, char *err, size_t errlen)
{
	char **kids = NULL;
	int r = zk_children(z, path, &kids, err, errlen), rc;

	if (r == -ENOENT)
		return 0;
	for (size_t i = 0; r == 0 && kids[i]; i++) {
		size_t n = strlen(path) + strlen(kids[i]) + 2;
		char *child = util_xmalloc(n);

		snprintf(child, n, "%s/%s", strcmp(path, "/") ? path : "", kids[i]);
		r = zk_delete_tree(z, child, err, errlen);
		free(child);
	}
	zk_strings_free(kids);
	if (r < 0)
		return r;
	rc = zoo_delete(z->zh, path, -1);
	if (rc == ZNONODE)
		return 0;
	if (rc != ZOK)
		fail(err, errlen, rc, "deleting", path);
	return zk_errno(rc);
}

int zk_errno(int rc)
{
	switch (rc) {
	case ZOK:
		return 0;
	case ZNONODE:
		return -ENOENT;
	case ZNODEEXISTS:
		return -EEXIST;
	case ZNOTEMPTY:
		return -ENOTEMPTY;
	case ZBADVERSION:
		return -ESTALE;
	case ZNEWCONFIGNOQUORUM:
		return -EAGAIN;
	case ZRECONFIGINPROGRESS:
		return -EBUSY;
	case ZRECONFIGDISABLED:
		return -EOPNOTSUPP;
	case ZNOAUTH:
	case ZAUTHFAILED:
		return -EACCES;
	case ZBADARGUMENTS:
		return -EINVAL;
	case ZCONNECTIONLOSS:
	case ZOPERATIONTIMEOUT:
	case ZSESSIONEXPIRED:
	case ZCLOSING:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/*
 * kafka: a consumer group's lag on one topic, read the way an autoscaler
 * needs it: the group's committed offsets (OffsetFetch) against each
 * partition's watermarks (ListOffsets), without joining the group, so the
 * reader never takes part in a rebalance of the consumers it watches.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-private.h"

/* Starts with the logger, as the log callback reads the opaque as a
 * struct log ** (kafka.c). */
struct lag_reader {
	struct log *log;
	const char *const *connect_to;
};

/*
 * Splits a "HOST:PORT:CONNECT-HOST:CONNECT-PORT" rule (curl's --connect-to
 * form; HOST or PORT empty matches any) and tells whether it maps
 * node:service. The connect host and port go to chost/cport.
 */
static bool rule_maps(const char *rule, const char *node, const char *service,
		      char *chost, size_t hsz, char *cport, size_t psz)
{
	const char *f[4], *p = rule;
	size_t len[4];
	int i;

	for (i = 0; i < 4; i++) {
		const char *c = i < 3 ? strchr(p, ':') : p + strlen(p);

		if (!c)
			return false;
		f[i] = p;
		len[i] = (size_t)(c - p);
		p = c + 1;
	}
	if (len[0] && (strlen(node) != len[0] || strncmp(node, f[0], len[0])))
		return false;
	if (len[1] && (!service || strlen(service) != len[1] ||
		       strncmp(service, f[1], len[1])))
		return false;
	if (snprintf(chost, hsz, "%.*s", (int)(len[2] ? len[2] : strlen(node)),
		     len[2] ? f[2] : node) >= (int)hsz)
		return false;
	if (snprintf(cport, psz, "%.*s", (int)(len[3] ? len[3] : (service ? strlen(service) : 0)),
		     len[3] ? f[3] : (service ? service : "")) >= (int)psz)
		return false;
	return true;
}

/* librdkafka's address lookup, with the connect-to rules applied first:
 * a test maps the in-cluster broker names to loopback as the ClickHouse
 * client does. */
static int resolve(const char *node, const char *service,
		   const struct addrinfo *hints, struct addrinfo **res,
		   void *opaque)
{
	const struct lag_reader *lr = opaque;
	char host[256], port[16];
	size_t i;

	/* librdkafka hands back what a lookup returned with everything but
	 * res NULL (rdkafka.h, rd_kafka_conf_set_resolve_cb). */
	if (!node && !service && !hints) {
		if (res && *res)
			freeaddrinfo(*res);
		return 0;
	}
	if (!node)
		return getaddrinfo(node, service, hints, res);
	for (i = 0; lr && lr->connect_to && lr->connect_to[i]; i++)
		if (rule_maps(lr->connect_to[i], node, service, host, sizeof(host),
			      port, sizeof(port)))
			return getaddrinfo(host, port, hints, res);
	return getaddrinfo(node, service, hints, res);
}

/*
 * The partition count of topic. The metadata of every topic is asked for,
 * not of this one: a request naming a missing topic may create it on a
 * broker with auto.create.topics.enable, and a reader must change nothing.
 */
static int topic_partitions(rd_kafka_t *rk, const char *topic, size_t *n,
			    int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e;
	int rc = -ENOENT, i;

	e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
	if (e)
		return kafka_errno(e);
	for (i = 0; i < md->topic_cnt; i++) {
		if (strcmp(md->topics[i].topic, topic) || md->topics[i].err ||
		    md->topics[i].partition_cnt <= 0)
			continue;
		*n = (size_t)md->topics[i].partition_cnt;
		rc = 0;
		break;
	}
	rd_kafka_metadata_destroy(md);
	return rc;
}

/* Sums the lag of every partition in l (committed offsets filled in). */
static int sum_lag(rd_kafka_t *rk, const char *topic,
		   const rd_kafka_topic_partition_list_t *l, int timeout_ms,
		   struct kafka_lag *out)
{
	struct kafka_lag r = {.partitions = (size_t)l->cnt};
	int i;

	for (i = 0; i < l->cnt; i++) {
		int64_t lo, hi, from, c = l->elems[i].offset;
		rd_kafka_resp_err_t e;

		e = rd_kafka_query_watermark_offsets(rk, topic, l->elems[i].partition,
						     &lo, &hi, timeout_ms);
		if (e)
			return kafka_errno(e);
		/* No commit yet: everything retained is still to be read
		 * (the consumers start at the earliest offset). A commit below
		 * the low watermark: retention removed the messages between. */
		if (c < 0)
			r.uncommitted++;
		from = c < lo ? lo : c;
		r.total += hi > from ? hi - from : 0;
		r.end += hi;
	}
	*out = r;
	return 0;
}

int kafka_group_lag(const struct kafka_lag_options *o, const char *group,
		    const char *topic, struct kafka_lag *out)
{
	const char *defaults[] = {
		"group.id", group, "enable.auto.commit", "false", NULL,
	};
	struct lag_reader lr = {.log = o->log, .connect_to = o->connect_to};
	int timeout = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	rd_kafka_topic_partition_list_t *l = NULL;
	rd_kafka_conf_t *cf;
	rd_kafka_t *rk;
	size_t np = 0, i;
	char err[512];
	int rc;

	if (!group || !*group || !topic || !*topic ||
	    strlen(topic) > KAFKA_MAX_TOPIC) {
		log_error(o->log, "kafka: lag: a group and a topic of at most %d characters are needed",
			  KAFKA_MAX_TOPIC);
		return -EINVAL;
	}
	cf = kafka_conf_build(o->bootstrap, defaults, o->conf, o->log);
	if (!cf)
		return -EINVAL;
	rd_kafka_conf_set_opaque(cf, &lr);
	rd_kafka_conf_set_resolve_cb(cf, resolve);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, cf, err, sizeof(err));
	if (!rk) {
		log_error(o->log, "kafka: lag client: %s", err);
		rd_kafka_conf_destroy(cf);
		return -EINVAL;
	}
	rc = topic_partitions(rk, topic, &np, timeout);
	if (rc)
		goto out;
	l = rd_kafka_topic_partition_list_new((int)np);
	for (i = 0; i < np; i++)
		rd_kafka_topic_partition_list_add(l, topic, (int32_t)i);
	rc = kafka_errno(rd_kafka_committed(rk, l, timeout));
	if (!rc)
		rc = sum_lag(rk, topic, l, timeout, out);
out:
	if (rc)
		log_error(o->log, "kafka: lag of group %s on %s: %s", group, topic,
			  kafka_strerror(rc));
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	return rc;
}

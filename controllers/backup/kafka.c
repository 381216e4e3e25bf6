/*
 * backup: consumer-group offsets through librdkafka. Reading uses
 * OffsetFetch (rd_kafka_committed); setting uses a plain OffsetCommit
 * without joining the group (rd_kafka_commit on a consumer that never
 * subscribed), which a broker accepts while the group has no members: the
 * restore commits before it creates the Kafka tables that join the group.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "backup-private.h"

#define BK_KAFKA_TIMEOUT_MS 15000

static rd_kafka_t *consumer(const char *brokers, const char *group,
			    char *err, size_t errlen)
{
	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "group.id", group, e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof(e)) ||
	    /* A short session: the broker rebalances to the Kafka tables
	     * created after the commit only when this member is gone, and a
	     * broker that ignores LeaveGroup waits for the session to end. */
	    rd_kafka_conf_set(conf, "session.timeout.ms", "6000", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "heartbeat.interval.ms", "1000", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e))) {
		rd_kafka_conf_destroy(conf);
		bk_set_err(err, errlen, "kafka: %s", e);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!rk) {
		bk_set_err(err, errlen, "kafka: %s", e);
		return NULL;
	}
	return rk;
}

/* Adds every partition of each comma-separated topic to list. */
static int add_partitions(rd_kafka_t *rk, const char *topics,
			  rd_kafka_topic_partition_list_t *list, char *err,
			  size_t errlen)
{
	char name[256];
	const char *p = topics, *comma;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t ke;
	size_t n;
	int i;

	while (*p) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && *p == ' ') { p++; n--; }
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 0 || n >= sizeof(name)) {
			bk_set_err(err, errlen, "kafka: bad topic list '%s'", topics);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		rkt = rd_kafka_topic_new(rk, name, NULL);
		ke = rd_kafka_metadata(rk, 0, rkt, &md, BK_KAFKA_TIMEOUT_MS);
		rd_kafka_topic_destroy(rkt);
		if (ke || md->topic_cnt != 1 || md->topics[0].err) {
			bk_set_err(err, errlen, "kafka: metadata of topic %s: %s", name,
				   rd_kafka_err2str(ke ? ke : (md && md->topic_cnt ? md->topics[0].err
									 : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)));
			if (md)
				rd_kafka_metadata_destroy(md);
			return -EIO;
		}
		for (i = 0; i < md->topics[0].partition_cnt; i++)
			rd_kafka_topic_partition_list_add(list, name, md->topics[0].partitions[i].id);
		rd_kafka_metadata_destroy(md);
		md = NULL;
		p = comma ? comma + 1 : p + n;
	}
	return 0;
}

int bk_kafka_read_offsets(const char *brokers, const char *group,
			  const char *topics, cJSON **out, char *err,
			  size_t errlen)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t ke;
	rd_kafka_t *rk;
	cJSON *arr, *o;
	int i, r;

	rk = consumer(brokers, group, err, errlen);
	if (!rk)
		return -EINVAL;
	list = rd_kafka_topic_partition_list_new(8);
	r = add_partitions(rk, topics, list, err, errlen);
	if (r == 0) {
		ke = rd_kafka_committed(rk, list, BK_KAFKA_TIMEOUT_MS);
		if (ke) {
			bk_set_err(err, errlen, "kafka: committed offsets of group %s: %s",
				   group, rd_kafka_err2str(ke));
			r = -EIO;
		}
	}
	if (r == 0) {
		arr = cJSON_CreateArray();
		for (i = 0; i < list->cnt; i++) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "topic", list->elems[i].topic);
			cJSON_AddNumberToObject(o, "partition", list->elems[i].partition);
			cJSON_AddNumberToObject(o, "offset",
						list->elems[i].offset >= 0 ? (double)list->elems[i].offset : -1);
			cJSON_AddItemToArray(arr, o);
		}
		*out = arr;
	}
	rd_kafka_topic_partition_list_destroy(list);
	rd_kafka_destroy(rk);
	return r;
}

/* Subscribes to the offsets' topics and polls until the group has
 * assigned this consumer every partition of them. */
static int join_group(rd_kafka_t *rk, const cJSON *offsets, const char *group,
		      char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(4);
	rd_kafka_topic_partition_list_t *assigned = NULL;
	rd_kafka_message_t *msg;
	rd_kafka_resp_err_t ke;
	const cJSON *o;
	int i, want = cJSON_GetArraySize(offsets), r = -ETIMEDOUT;

	cJSON_ArrayForEach(o, offsets) {
		const char *topic = cJSON_GetStringValue(cJSON_GetObjectItem(o, "topic"));

		if (topic && !rd_kafka_topic_partition_list_find(topics, topic, RD_KAFKA_PARTITION_UA))
			rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
	}
	rd_kafka_poll_set_consumer(rk);
	ke = rd_kafka_subscribe(rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (ke) {
		bk_set_err(err, errlen, "kafka: subscribe for group %s: %s", group, rd_kafka_err2str(ke));
		return -EIO;
	}
	for (i = 0; i < BK_KAFKA_TIMEOUT_MS / 100 * 4; i++) {
		/* Messages are not consumed: the offsets are set, not moved. */
		msg = rd_kafka_consumer_poll(rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
		if (rd_kafka_assignment(rk, &assigned) == 0 && assigned->cnt >= want) {
			rd_kafka_topic_partition_list_destroy(assigned);
			r = 0;
			break;
		}
		if (assigned)
			rd_kafka_topic_partition_list_destroy(assigned);
		assigned = NULL;
	}
	if (r < 0)
		bk_set_err(err, errlen, "kafka: group %s did not assign this consumer all %d partitions within %d s (is a consumer of the group still running?)",
			   group, want, BK_KAFKA_TIMEOUT_MS / 1000 * 4);
	return r;
}

int bk_kafka_commit_offsets(const char *brokers, const char *group,
			    const cJSON *offsets, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t ke;
	const cJSON *o;
	int64_t lo, hi, off;
	rd_kafka_t *rk;
	int i, r = 0;

	rk = consumer(brokers, group, err, errlen);
	if (!rk)
		return -EINVAL;
	list = rd_kafka_topic_partition_list_new(8);
	cJSON_ArrayForEach(o, offsets) {
		const char *topic = cJSON_GetStringValue(cJSON_GetObjectItem(o, "topic"));
		int part = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "partition"));

		off = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "offset"));
		if (!topic) {
			bk_set_err(err, errlen, "manifest: an offset of group %s names no topic", group);
			r = -EBADMSG;
			break;
		}
		if (off < 0) {
			ke = rd_kafka_query_watermark_offsets(rk, topic, part, &lo, &hi,
							      BK_KAFKA_TIMEOUT_MS);
			if (ke) {
				bk_set_err(err, errlen, "kafka: watermarks of %s[%d]: %s",
					   topic, part, rd_kafka_err2str(ke));
				r = -EIO;
				break;
			}
			off = lo;
		}
		rd_kafka_topic_partition_list_add(list, topic, part)->offset = off;
	}
	if (r == 0 && list->cnt > 0)
		r = join_group(rk, offsets, group, err, errlen);
	if (r == 0 && list->cnt > 0) {
		ke = rd_kafka_commit(rk, list, 0);
		if (ke) {
			bk_set_err(err, errlen, "kafka: commit of group %s: %s", group,
				   rd_kafka_err2str(ke));
			r = -EIO;
		}
		for (i = 0; r == 0 && i < list->cnt; i++) {
			if (list->elems[i].err) {
				bk_set_err(err, errlen, "kafka: commit of group %s, %s[%d]: %s",
					   group, list->elems[i].topic, list->elems[i].partition,
					   rd_kafka_err2str(list->elems[i].err));
				r = -EIO;
			}
		}
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_topic_partition_list_destroy(list);
	rd_kafka_destroy(rk);
	return r;
}

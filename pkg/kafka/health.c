/*
 * The Kafka health gate of an operator-driven restart: is a broker back in
 * the in-sync replica set (ISR) of every partition it hosts, and is no
 * partition below its minimum ISR? Read from the cluster's metadata
 * (Metadata request: per partition, its replicas and ISR; Kafka's
 * MetadataResponse.json in clients/src/main/resources/common/message).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-private.h"

int kafka_isr_judge(const struct kafka_partition_isr *p, size_t n, int32_t broker, int min_isr,
		    struct kafka_isr_verdict *v)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		bool hosts = false, in_isr = false;

		for (int k = 0; k < p[i].replica_cnt; k++)
			hosts = hosts || p[i].replicas[k] == broker;
		for (int k = 0; k < p[i].isr_cnt; k++)
			in_isr = in_isr || p[i].isrs[k] == broker;
		v->partitions += hosts;
		if (hosts && !in_isr && !v->out_of_isr++)
			snprintf(v->first, sizeof(v->first), "broker %d is not in the ISR of %s-%d",
				 (int)broker, p[i].topic, (int)p[i].partition);
		/* A partition with fewer replicas than min ISR can never reach it:
		 * its limit is its replica count. */
		if (p[i].isr_cnt < (min_isr < p[i].replica_cnt ? min_isr : p[i].replica_cnt) &&
		    !v->under_min_isr++ && !v->out_of_isr)
			snprintf(v->first, sizeof(v->first), "%s-%d has %d in-sync replicas, under %d",
				 p[i].topic, (int)p[i].partition, p[i].isr_cnt, min_isr);
	}
	return v->out_of_isr || v->under_min_isr ? -EAGAIN : 0;
}

/* Copies one partition's metadata out of librdkafka's. */
static void copy_partition(const rd_kafka_metadata_topic_t *t, const rd_kafka_metadata_partition_t *mp,
			   struct kafka_partition_isr *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->topic, sizeof(out->topic), "%s", t->topic);
	out->partition = mp->id;
	out->leader = mp->leader;
	for (int k = 0; k < mp->replica_cnt && k < KAFKA_MAX_REPLICAS; k++)
		out->replicas[out->replica_cnt++] = mp->replicas[k];
	for (int k = 0; k < mp->isr_cnt && k < KAFKA_MAX_REPLICAS; k++)
		out->isrs[out->isr_cnt++] = mp->isrs[k];
}

int kafka_isr_read(const char *bootstrap, kafka_conf conf, int timeout_ms,
		   struct kafka_partition_isr **out, size_t *n, struct log *log)
{
	const rd_kafka_metadata_t *md = NULL;
	struct kafka_partition_isr *parts = NULL;
	rd_kafka_conf_t *cf = kafka_conf_build(bootstrap, NULL, conf, log);
	rd_kafka_t *rk;
	size_t total = 0, k = 0;
	char err[512];
	int rc;

	if (!cf)
		return -EINVAL;
	rd_kafka_conf_set_opaque(cf, &log);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, cf, err, sizeof(err));
	if (!rk) {
		log_error(log, "kafka: metadata client: %s", err);
		rd_kafka_conf_destroy(cf);
		return -EINVAL;
	}
	rc = kafka_errno(rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms));
	if (rc)
		goto out;
	for (int t = 0; t < md->topic_cnt; t++)
		total += (size_t)md->topics[t].partition_cnt;
	parts = calloc(total ? total : 1, sizeof(*parts));
	if (!parts)
		abort();
	for (int t = 0; t < md->topic_cnt; t++)
		for (int p = 0; p < md->topics[t].partition_cnt; p++)
			copy_partition(&md->topics[t], &md->topics[t].partitions[p], &parts[k++]);
	*out = parts;
	*n = k;
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return rc;
}

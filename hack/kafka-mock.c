/*
 * A Kafka-protocol broker for tests: librdkafka's mock cluster
 * (rdkafka_mock.h, Debian's librdkafka-dev) in a process of its own.
 * hack/kafka builds and runs it; see docs/kafka-local.md.
 *
 *   kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file F]
 *   kafka-mock committed BOOTSTRAP GROUP TOPIC
 *
 * The mock brokers listen on 127.0.0.1 (ports chosen by the kernel). The
 * bootstrap list is printed on stdout as "bootstrap=HOST:PORT,..." and, with
 * --bootstrap-file, written to F (via a temporary file and rename, so a
 * reader never sees half of it). The process then serves until SIGTERM or
 * SIGINT.
 *
 * "committed" prints a consumer group's committed offset of each partition
 * of TOPIC, one "PARTITION OFFSET" line each (-1: none committed), read
 * with OffsetFetch without joining the group; tests wait on it for a
 * consumer's commit.
 *
 * Test infrastructure, not part of the operator.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 256
#define MAX_NAME 249 /* Kafka's topic name limit */

struct topic {
	char name[MAX_NAME + 1];
	int partitions;
};

struct opts {
	int brokers;
	const char *bootstrap_file;
	struct topic topics[MAX_TOPICS];
	int ntopics;
};

/* A decimal in [lo, hi], or -1. */
static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (!*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	return v;
}

static int parse_topic(const char *arg, struct topic *t)
{
	const char *colon = strrchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	long p = colon ? parse_num(colon + 1, 1, 10000) : 1;
	size_t i;

	if (n == 0 || n > MAX_NAME || p < 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char c = arg[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	memcpy(t->name, arg, n);
	t->name[n] = '\0';
	t->partitions = (int)p;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	o->brokers = 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "kafka-mock: %s needs a value\n", a);
			return -EINVAL;
		}
		if (strcmp(a, "--brokers") == 0) {
			long n = parse_num(v, 1, 32);

			if (n < 0) {
				fprintf(stderr, "kafka-mock: --brokers: want 1..32, got '%s'\n", v);
				return -EINVAL;
			}
			o->brokers = (int)n;
		} else if (strcmp(a, "--topic") == 0) {
			if (o->ntopics == MAX_TOPICS) {
				fprintf(stderr, "kafka-mock: more than %d --topic\n", MAX_TOPICS);
				return -EINVAL;
			}
			if (parse_topic(v, &o->topics[o->ntopics]) < 0) {
				fprintf(stderr, "kafka-mock: --topic: want NAME[:PARTITIONS] "
					"(name of [A-Za-z0-9._-], partitions 1..10000), got '%s'\n", v);
				return -EINVAL;
			}
			o->ntopics++;
		} else if (strcmp(a, "--bootstrap-file") == 0) {
			o->bootstrap_file = v;
		} else {
			fprintf(stderr, "kafka-mock: unknown option %s\n", a);
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		fprintf(stderr, "kafka-mock: --bootstrap-file: path too long\n");
		return -ENAMETOOLONG;
	}
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "kafka-mock: writing %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static int serve(const struct opts *o, rd_kafka_mock_cluster_t *mc)
{
	const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
	sigset_t set;
	int i, sig;
	rd_kafka_resp_err_t err;

	/* A replication factor above the broker count is refused. */
	for (i = 0; i < o->ntopics; i++) {
		err = rd_kafka_mock_topic_create(mc, o->topics[i].name,
						 o->topics[i].partitions,
						 o->brokers < 3 ? o->brokers : 3);
		if (err) {
			fprintf(stderr, "kafka-mock: topic %s: %s\n",
				o->topics[i].name, rd_kafka_err2str(err));
			return -EIO;
		}
	}
	if (o->bootstrap_file && write_file(o->bootstrap_file, boot) < 0)
		return -EIO;
	printf("bootstrap=%s\n", boot);
	fflush(stdout);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigwait(&set, &sig) != 0)
		return -EINTR;
	fprintf(stderr, "kafka-mock: signal %d, stopping\n", sig);
	return 0;
}

#define COMMITTED_TIMEOUT_MS 10000

static int committed(const char *boot, const char *group, const char *topic)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *list = NULL;
	rd_kafka_topic_t *rkt = NULL;
	rd_kafka_resp_err_t err;
	char errstr[512];
	rd_kafka_t *rk;
	int i, rc = 1;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr))) {
		fprintf(stderr, "kafka-mock committed: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "kafka-mock committed: %s\n", errstr);
		return 1;
	}
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	err = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, COMMITTED_TIMEOUT_MS)
		  : RD_KAFKA_RESP_ERR__INVALID_ARG;
	if (!err && (!md || md->topic_cnt != 1 || md->topics[0].err))
		err = md && md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (err) {
		fprintf(stderr, "kafka-mock committed: metadata of %s: %s\n", topic,
			rd_kafka_err2str(err));
		goto out;
	}
	list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (i = 0; i < md->topics[0].partition_cnt; i++)
		rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[i].id);
	err = rd_kafka_committed(rk, list, COMMITTED_TIMEOUT_MS);
	if (err) {
		fprintf(stderr, "kafka-mock committed: group %s: %s\n", group,
			rd_kafka_err2str(err));
		goto out;
	}
	for (i = 0; i < list->cnt; i++)
		printf("%d %lld\n", (int)list->elems[i].partition,
		       list->elems[i].offset >= 0 ? (long long)list->elems[i].offset : -1LL);
	rc = 0;
out:
	if (list)
		rd_kafka_topic_partition_list_destroy(list);
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts *o = calloc(1, sizeof(*o)); /* ~64 KiB of topics: off the stack */
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	const char *debug;
	sigset_t set;
	int rc;

	if (!o)
		abort();
	if (argc >= 2 && strcmp(argv[1], "committed") == 0) {
		free(o);
		if (argc != 5) {
			fprintf(stderr, "kafka-mock: usage: committed BOOTSTRAP GROUP TOPIC\n");
			return 2;
		}
		return committed(argv[2], argv[3], argv[4]);
	}
	if (parse_args(argc, argv, o) < 0) {
		free(o);
		return 2;
	}
	/* Block the stop signals before librdkafka starts its threads, so
	 * that they inherit the mask and sigwait() below receives them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	conf = rd_kafka_conf_new();
	/* The handle only does the mock cluster's bookkeeping; it never
	 * connects anywhere. */
	if (rd_kafka_conf_set(conf, "bootstrap.servers", "", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr))) {
		fprintf(stderr, "kafka-mock: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		free(o);
		return 1;
	}
	/* KAFKA_MOCK_DEBUG=mock,cgrp logs the mock's group coordinator (to
	 * stderr, which hack/kafka keeps in its log) when a test needs it. */
	if ((debug = getenv("KAFKA_MOCK_DEBUG")) &&
	    (rd_kafka_conf_set(conf, "debug", debug, errstr, sizeof(errstr)) ||
	     rd_kafka_conf_set(conf, "log_level", "7", errstr, sizeof(errstr)))) {
		fprintf(stderr, "kafka-mock: KAFKA_MOCK_DEBUG: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		free(o);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "kafka-mock: %s\n", errstr);
		free(o);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, o->brokers);
	if (!mc) {
		fprintf(stderr, "kafka-mock: could not create the mock cluster\n");
		rd_kafka_destroy(rk);
		free(o);
		return 1;
	}
	rc = serve(o, mc);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	free(o);
	return rc < 0 ? 1 : 0;
}

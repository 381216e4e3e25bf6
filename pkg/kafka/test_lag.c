/*
 * kafka_group_lag against librdkafka's mock cluster (a real Kafka-protocol
 * broker on loopback): messages produced per partition, offsets committed
 * by the group, and the lag the reader reports.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-private.h"

#include <librdkafka/rdkafka_mock.h>

#define TOPIC "events_plugin_ingestion_2"
#define PARTS 3

struct broker {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	char bootstrap[256];
	char port[16];
};

static void broker_up(struct broker *b)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *colon;

	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	ck_assert_ptr_nonnull(b->rk);
	b->mc = rd_kafka_mock_cluster_new(b->rk, 1);
	ck_assert_ptr_nonnull(b->mc);
	snprintf(b->bootstrap, sizeof(b->bootstrap), "%s",
		 rd_kafka_mock_cluster_bootstraps(b->mc));
	colon = strrchr(b->bootstrap, ':');
	ck_assert_ptr_nonnull(colon);
	snprintf(b->port, sizeof(b->port), "%s", colon + 1);
	ck_assert_int_eq(rd_kafka_mock_topic_create(b->mc, TOPIC, PARTS, 1), 0);
}

static void broker_down(struct broker *b)
{
	rd_kafka_mock_cluster_destroy(b->mc);
	rd_kafka_destroy(b->rk);
}

static const char *const quiet[] = { "log_level=3", NULL };

/* Produces n[p] messages to each partition p, and waits for them. */
static void produce(const char *bootstrap, const int *n)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	int p, i;

	ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
					   sizeof(err)), RD_KAFKA_CONF_OK);
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	ck_assert_ptr_nonnull(rk);
	for (p = 0; p < PARTS; p++)
		for (i = 0; i < n[p]; i++)
			ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC),
							   RD_KAFKA_V_PARTITION(p),
							   RD_KAFKA_V_VALUE("e", 1),
							   RD_KAFKA_V_END), 0);
	ck_assert_int_eq(rd_kafka_flush(rk, 10000), 0);
	rd_kafka_destroy(rk);
}

/* Commits offsets[p] (>= 0) for group, as a consumer that finished the
 * messages before them does. */
static void commit(const char *bootstrap, const char *group, const int64_t *offsets)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
	rd_kafka_t *rk;
	int p;

	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	ck_assert_ptr_nonnull(rk);
	for (p = 0; p < PARTS; p++)
		if (offsets[p] >= 0)
			rd_kafka_topic_partition_list_add(l, TOPIC, p)->offset = offsets[p];
	if (l->cnt)
		ck_assert_int_eq(rd_kafka_commit(rk, l, 0), 0);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static const struct {
	const char *name;
	int produced[PARTS];
	int64_t committed[PARTS]; /* -1: nothing committed there */
	int64_t lag;
	size_t uncommitted;
} cases[] = {
	{"empty topic, no commit", {0, 0, 0}, {-1, -1, -1}, 0, 3},
	{"backlog, no commit: all of it", {5, 7, 11}, {-1, -1, -1}, 23, 3},
	{"partly consumed", {5, 7, 11}, {5, 2, 10}, 6, 0},
	{"one partition never committed", {5, 7, 11}, {5, 7, -1}, 11, 1},
	{"drained", {5, 7, 11}, {5, 7, 11}, 0, 0},
};

START_TEST(test_lag_table)
{
	struct broker b;
	struct kafka_lag_options o = {.conf = quiet, .timeout_ms = 5000};
	struct kafka_lag lag = {0};
	char group[64];

	broker_up(&b);
	o.bootstrap = b.bootstrap;
	snprintf(group, sizeof(group), "events-ingestion-consumer-%d", _i);
	produce(b.bootstrap, cases[_i].produced);
	commit(b.bootstrap, group, cases[_i].committed);
	ck_assert_int_eq(kafka_group_lag(&o, group, TOPIC, &lag), 0);
	ck_assert_msg(lag.total == cases[_i].lag, "%s: lag %lld, want %lld", cases[_i].name,
		      (long long)lag.total, (long long)cases[_i].lag);
	ck_assert_uint_eq(lag.partitions, PARTS);
	ck_assert_uint_eq(lag.uncommitted, cases[_i].uncommitted);
	ck_assert_int_eq(lag.end, cases[_i].produced[0] + cases[_i].produced[1] +
				  cases[_i].produced[2]);
	broker_down(&b);
}
END_TEST

/* Another group's commits do not count for this one. */
START_TEST(test_lag_per_group)
{
	struct broker b;
	struct kafka_lag_options o = {.conf = quiet};
	struct kafka_lag lag = {0};
	const int n[PARTS] = {4, 4, 4};
	const int64_t all[PARTS] = {4, 4, 4};

	broker_up(&b);
	o.bootstrap = b.bootstrap;
	produce(b.bootstrap, n);
	commit(b.bootstrap, "events-ingestion-consumer-1", all);
	ck_assert_int_eq(kafka_group_lag(&o, "events-ingestion-consumer-1", TOPIC, &lag), 0);
	ck_assert_int_eq(lag.total, 0);
	ck_assert_int_eq(kafka_group_lag(&o, "events-ingestion-consumer-2", TOPIC, &lag), 0);
	ck_assert_int_eq(lag.total, 12);
	broker_down(&b);
}
END_TEST

START_TEST(test_lag_unknown_topic)
{
	struct broker b;
	const char *const *conf = quiet;
	struct kafka_lag_options o = {.conf = conf, .timeout_ms = 3000};
	struct kafka_lag lag = {.total = 42};

	broker_up(&b);
	o.bootstrap = b.bootstrap;
	ck_assert_int_eq(kafka_group_lag(&o, "g", "no_such_topic", &lag), -ENOENT);
	ck_assert_int_eq(lag.total, 42); /* untouched on failure */
	/* and the reader created nothing */
	ck_assert_int_eq(kafka_group_lag(&o, "g", "no_such_topic", &lag), -ENOENT);
	ck_assert_int_eq(kafka_group_lag(&o, "", TOPIC, &lag), -EINVAL);
	ck_assert_int_eq(kafka_group_lag(&o, "g", "", &lag), -EINVAL);
	broker_down(&b);
}
END_TEST

/*
 * A bootstrap name that does not resolve (the in-cluster Service name) is
 * reached through a connect-to rule, as the operator's ClickHouse client
 * does in tests; without the rule the read fails.
 */
START_TEST(test_lag_connect_to)
{
	struct broker b;
	char boot[64], rule[96], rule_other[96];
	const char *rules[3] = {NULL, NULL, NULL};
	struct kafka_lag_options o = {.conf = quiet, .timeout_ms = 3000, .connect_to = rules};
	struct kafka_lag lag = {0};
	const int n[PARTS] = {1, 2, 3};

	broker_up(&b);
	produce(b.bootstrap, n);
	snprintf(boot, sizeof(boot), "ph-kafka.ns.svc.invalid:%s", b.port);
	snprintf(rule_other, sizeof(rule_other), "other.invalid:%s:127.0.0.2:1", b.port);
	snprintf(rule, sizeof(rule), "ph-kafka.ns.svc.invalid:%s:127.0.0.1:%s", b.port, b.port);
	o.bootstrap = boot;
	rules[0] = rule_other;
	ck_assert_int_ne(kafka_group_lag(&o, "g", TOPIC, &lag), 0);
	rules[1] = rule;
	ck_assert_int_eq(kafka_group_lag(&o, "g", TOPIC, &lag), 0);
	ck_assert_int_eq(lag.total, 6);
	snprintf(rule, sizeof(rule), ":%s:127.0.0.1:", b.port); /* any host, same port */
	rules[0] = rule;
	rules[1] = NULL;
	ck_assert_int_eq(kafka_group_lag(&o, "g", TOPIC, &lag), 0);
	ck_assert_int_eq(lag.total, 6);
	broker_down(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kafka_lag");
	TCase *tc = tcase_create("lag");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_lag_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_lag_per_group);
	tcase_add_test(tc, test_lag_unknown_topic);
	tcase_add_test(tc, test_lag_connect_to);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

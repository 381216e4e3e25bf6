/*
 * The restart health gate (health.c): the ISR judgement on metadata built
 * by hand, table-driven, and the metadata read against librdkafka's mock
 * cluster (rdkafka_mock.h), a Kafka-protocol broker started in-process on
 * loopback. The mock reports every replica in sync, so against it the gate
 * can only pass; the judgement of a broker missing from an ISR is the
 * table's.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"

/* A partition as "topic/partition: replicas | isr", e.g. "t/0:1,2,3|1,3". */
static void part_of(const char *spec, struct kafka_partition_isr *p)
{
	const char *s = strchr(spec, '/'), *bar;
	char *end;

	memset(p, 0, sizeof(*p));
	snprintf(p->topic, sizeof(p->topic), "%.*s", (int)(s - spec), spec);
	p->partition = (int32_t)strtol(s + 1, &end, 10);
	s = end + 1;
	bar = strchr(s, '|');
	while (s < bar) {
		p->replicas[p->replica_cnt++] = (int32_t)strtol(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
	s = bar + 1;
	while (*s) {
		p->isrs[p->isr_cnt++] = (int32_t)strtol(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
}

static const struct {
	const char *parts[4];
	int32_t broker;
	int min_isr;
	int rc, hosted, out, under;
	const char *first;
} cases[] = {
	{{"t/0:1,2,3|1,2,3", "t/1:2,3,1|2,3,1"}, 1, 2, 0, 2, 0, 0, ""},
	{{"t/0:1,2,3|2,3", "t/1:2,3,1|2,3,1"}, 1, 2, -EAGAIN, 2, 1, 0, "broker 1 is not in the ISR of t-0"},
	{{"t/0:1,2,3|1,2,3", "t/1:2,3|2"}, 1, 2, -EAGAIN, 1, 0, 1, "t-1 has 1 in-sync replicas, under 2"},
	{{"t/0:2,3|2,3"}, 1, 2, 0, 0, 0, 0, ""},
	{{"t/0:1|1", "u/0:2|2"}, 2, 2, 0, 1, 0, 0, ""},
	{{"t/0:1,2|1"}, 2, 1, -EAGAIN, 1, 1, 0, "not in the ISR of t-0"},
};

START_TEST(test_judge)
{
	struct kafka_partition_isr p[4];
	struct kafka_isr_verdict v;
	size_t n = 0;

	while (n < 4 && cases[_i].parts[n]) {
		part_of(cases[_i].parts[n], &p[n]);
		n++;
	}
	ck_assert_int_eq(kafka_isr_judge(p, n, cases[_i].broker, cases[_i].min_isr, &v), cases[_i].rc);
	ck_assert_int_eq(v.partitions, cases[_i].hosted);
	ck_assert_int_eq(v.out_of_isr, cases[_i].out);
	ck_assert_int_eq(v.under_min_isr, cases[_i].under);
	ck_assert_msg(strstr(v.first, cases[_i].first), "\"%s\" lacks \"%s\"", v.first, cases[_i].first);
}
END_TEST

/* Three brokers, a topic of four partitions replicated three times. */
START_TEST(test_mock_cluster)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	struct kafka_partition_isr *parts = NULL;
	struct kafka_isr_verdict v;
	size_t n = 0, found = 0;
	const char *const kconf[] = {"log_level=0", NULL};

	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	ck_assert_ptr_nonnull(rk);
	mc = rd_kafka_mock_cluster_new(rk, 3);
	ck_assert_ptr_nonnull(mc);
	ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "events", 4, 3), 0);
	ck_assert_int_eq(kafka_isr_read(rd_kafka_mock_cluster_bootstraps(mc), kconf, 10000, &parts, &n,
					NULL), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(parts[i].topic, "events"))
			continue;
		found++;
		ck_assert_int_eq(parts[i].replica_cnt, 3);
		ck_assert_int_ge(parts[i].leader, 1);
		ck_assert_int_eq(parts[i].isr_cnt, 3);
	}
	ck_assert_uint_eq(found, 4);
	/* The mock's broker ids are 1..3; each hosts all four partitions. */
	for (int32_t b = 1; b <= 3; b++) {
		ck_assert_int_eq(kafka_isr_judge(parts, n, b, 2, &v), 0);
		ck_assert_int_eq(v.partitions, 4);
	}
	/* A min ISR above the replicas is capped at them; one missing from an ISR halts. */
	ck_assert_int_eq(kafka_isr_judge(parts, n, 1, 4, &v), 0);
	parts[0].isr_cnt = 1;
	ck_assert_int_eq(kafka_isr_judge(parts, n, 2, 2, &v), -EAGAIN);
	free(parts);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
}
END_TEST

START_TEST(test_unreachable)
{
	struct kafka_partition_isr *parts = NULL;
	size_t n = 0;
	const char *const kconf[] = {"log_level=0", NULL};

	/* Port 1 on loopback: nothing listens. */
	ck_assert_int_lt(kafka_isr_read("127.0.0.1:1", kconf, 1500, &parts, &n, NULL), 0);
	ck_assert_ptr_null(parts);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kafka-health");
	TCase *tc = tcase_create("isr");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_judge, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_mock_cluster);
	tcase_add_test(tc, test_unreachable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

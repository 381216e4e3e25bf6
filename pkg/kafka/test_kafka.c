/*
 * pkg/kafka against a real Kafka-protocol broker: librdkafka's mock cluster
 * (rdkafka_mock.h), started in-process on loopback for each test.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-private.h"

#include <librdkafka/rdkafka_mock.h>

struct broker {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	char bootstrap[256];
};

static void broker_up(struct broker *b, const char *topic, int partitions)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	ck_assert_ptr_nonnull(b->rk);
	b->mc = rd_kafka_mock_cluster_new(b->rk, 1);
	ck_assert_ptr_nonnull(b->mc);
	snprintf(b->bootstrap, sizeof(b->bootstrap), "%s",
		 rd_kafka_mock_cluster_bootstraps(b->mc));
	ck_assert_int_eq(rd_kafka_mock_topic_create(b->mc, topic, partitions, 1), 0);
}

static void broker_down(struct broker *b)
{
	rd_kafka_mock_cluster_destroy(b->mc);
	rd_kafka_destroy(b->rk);
}

struct delivered {
	int ok, failed;
	int64_t max_offset;
	long opaque_sum;
};

static void on_delivery(void *ud, void *opaque, int err, const char *topic,
			int32_t partition, int64_t offset, int64_t latency_us)
{
	struct delivered *d = ud;

	if (err) {
		d->failed++;
		return;
	}
	d->ok++;
	d->opaque_sum += (long)(intptr_t)opaque;
	if (offset > d->max_offset)
		d->max_offset = offset;
}

static const char *const quiet[] = { "log_level=3", NULL };

/* Produces n keyed messages with a header each; returns after all are
 * acknowledged. Flushed after every `every` messages too (0: only at the
 * end), so that each flush is a batch of its own on the broker. */
static void produce_every(const char *bootstrap, const char *topic, int n,
			  int every, struct delivered *d)
{
	struct kafka_producer_options po = {
		.bootstrap = bootstrap, .conf = quiet,
		.on_delivery = on_delivery, .userdata = d,
	};
	struct kafka_producer *p;
	int i;

	ck_assert_int_eq(kafka_producer_new(&po, &p), 0);
	for (i = 1; i <= n; i++) {
		char key[32], val[64];

		snprintf(key, sizeof(key), "k%d", i % 7);
		snprintf(val, sizeof(val), "{\"seq\":%d}", i);
		ck_assert_int_eq(kafka_produce(p, topic, key, strlen(key), val,
					       strlen(val), NULL, 1000 + i,
					       (void *)(intptr_t)i), 0);
		if (every && i % every == 0)
			ck_assert_int_eq(kafka_producer_flush(p, 10000), 0);
	}
	ck_assert_int_eq(kafka_producer_flush(p, 10000), 0);
	ck_assert_int_eq(kafka_producer_outstanding(p), 0);
	kafka_producer_close(p, 1000);
}

/* produce_every() with one flush, at the end. */
static void produce_n(const char *bootstrap, const char *topic, int n,
		      struct delivered *d)
{
	produce_every(bootstrap, topic, n, 0, d);
}

START_TEST(produce_acknowledges_every_message)
{
	struct broker b;
	struct delivered d = { 0 };

	broker_up(&b, "t1", 3);
	produce_n(b.bootstrap, "t1", 200, &d);
	ck_assert_int_eq(d.ok, 200);
	ck_assert_int_eq(d.failed, 0);
	ck_assert_int_eq(d.opaque_sum, 200 * 201 / 2);
	broker_down(&b);
}
END_TEST

struct seen {
	int assigned, revoked;
};

static void on_rebalance(void *ud, bool assigned, const int32_t *parts,
			 size_t n)
{
	struct seen *s = ud;

	if (assigned)
		s->assigned += (int)n;
	else
		s->revoked += (int)n;
}

START_TEST(consume_store_and_read_back_the_commit)
{
	struct broker b;
	struct delivered d = { 0 };
	struct seen s = { 0 };
	/* A shorter session: the mock broker's coordinator held the second
	 * member's join for over a minute with the defaults, although the
	 * first had closed; with 10 s it joins in about 10 s. (3 s was too
	 * short for the first member under valgrind on a loaded machine.) */
	static const char *const brief[] = {
		"log_level=3", "session.timeout.ms=10000", "heartbeat.interval.ms=1000", NULL,
	};
	struct kafka_consumer_options co = {
		.group = "g1", .topic = "t2", .conf = brief,
		.on_rebalance = on_rebalance, .userdata = &s,
	};
	struct kafka_consumer *c;
	int64_t next[3] = { 0, 0, 0 }, committed[8], high[8];
	int got = 0, last_seq_for_key[7] = { 0 }, tries = 0;
	size_t n = 8, i;

	broker_up(&b, "t2", 3);
	produce_n(b.bootstrap, "t2", 300, &d);
	co.bootstrap = b.bootstrap;
	ck_assert_int_eq(kafka_consumer_new(&co, &c), 0);
	while (got < 300 && tries++ < 6000) {
		struct kafka_msg m = { 0 };
		char val[64];
		int seq, k;

		if (kafka_consumer_poll(c, 10, &m) != 0)
			continue;
		ck_assert_str_eq(m.topic, "t2");
		ck_assert_uint_lt(m.len, sizeof(val));
		memcpy(val, m.value, m.len);
		val[m.len] = '\0';
		seq = (int)strtol(val + 7, NULL, 10);
		k = ((const char *)m.key)[1] - '0';
		ck_assert_int_eq(seq % 7, k);
		/* per key, order is kept */
		ck_assert_int_gt(seq, last_seq_for_key[k]);
		last_seq_for_key[k] = seq;
		ck_assert_int_eq(m.timestamp_ms, 1000 + seq);
		ck_assert_uint_eq(kafka_msg_header_count(&m), 0);
		next[m.partition] = m.offset + 1;
		kafka_msg_release(&m);
		got++;
	}
	ck_assert_int_eq(got, 300);
	ck_assert_int_eq(s.assigned, 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(kafka_consumer_store(c, (int32_t)i, next[i]), 0);
	ck_assert_int_eq(kafka_consumer_commit(c), 0);
	ck_assert_int_eq(kafka_group_committed(b.bootstrap, quiet, "g1", "t2",
					       committed, &n, 5000, NULL), 0);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(committed[i], next[i]);
	/* a group that never committed has no offsets */
	n = 8;
	ck_assert_int_eq(kafka_group_committed(b.bootstrap, quiet, "nobody", "t2",
					       committed, &n, 5000, NULL), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(committed[i], -1);
	/* too little room */
	n = 2;
	ck_assert_int_eq(kafka_group_committed(b.bootstrap, quiet, "g1", "t2",
					       committed, &n, 5000, NULL), -ENOSPC);
	kafka_consumer_close(c);
	ck_assert_int_eq(s.revoked, 3);
	/* A member that starts where the group committed, at every
	 * partition's end, consumes nothing and has no lag (not the whole
	 * partition, as before a partition's end was tracked). */
	ck_assert_int_eq(kafka_consumer_new(&co, &c), 0);
	for (tries = 0, got = 0; got < 3 && tries < 6000; tries++) {
		struct kafka_msg m = { 0 };
		int64_t lag;

		ck_assert_int_eq(kafka_consumer_poll(c, 10, &m), -EAGAIN);
		for (i = 0, got = 0; i < 3; i++)
			got += kafka_consumer_lag(c, (int32_t)i, &lag) == 0 && lag == 0;
	}
	ck_assert_int_eq(got, 3);
	kafka_consumer_close(c);
	{
		struct kafka_producer_options po = { .bootstrap = b.bootstrap,
						     .conf = quiet };
		struct kafka_producer *p;
		int64_t sum = 0;

		n = 8;
		ck_assert_int_eq(kafka_producer_new(&po, &p), 0);
		ck_assert_int_eq(kafka_producer_watermarks(p, "t2", high, &n, 5000), 0);
		ck_assert_uint_eq(n, 3);
		for (i = 0; i < 3; i++) {
			ck_assert_int_eq(high[i], next[i]);
			sum += high[i];
		}
		ck_assert_int_eq(sum, 300);
		kafka_producer_close(p, 1000);
	}
	broker_down(&b);
}
END_TEST

/* A consumer queue that holds one message parks librdkafka's fetcher after
 * every fetch (kafka.c, wake_fetcher). Every message still arrives exactly
 * once, in offset order per partition, and the wake was what fetched
 * them (librdkafka's own wake would also come, a second later).
 * The messages are produced as 30 batches, and a fetch answer carries one
 * batch per partition (fetch.message.max.bytes=1; a broker answers with
 * at least one whole batch): one batch of all 600 would be fetched at
 * once and leave nothing to wake the fetcher for. */
START_TEST(parked_fetcher_is_woken_without_loss_or_doubles)
{
	static const char *const tiny[] = {
		"log_level=3", "queued.min.messages=1", "queued.max.messages.kbytes=1",
		"fetch.message.max.bytes=1", NULL,
	};
	struct broker b;
	struct delivered d = { 0 };
	struct seen s = { 0 };
	struct kafka_consumer_options co = {
		.group = "g-park", .topic = "t5", .conf = tiny,
		.on_rebalance = on_rebalance, .userdata = &s,
	};
	struct kafka_consumer *c;
	int64_t next[3] = { 0, 0, 0 };
	struct { int64_t next[3], lag[3]; } snap[64];
	int got = 0, tries = 0, nsnap = 0;

	broker_up(&b, "t5", 3);
	produce_every(b.bootstrap, "t5", 600, 20, &d);
	co.bootstrap = b.bootstrap;
	ck_assert_int_eq(kafka_consumer_new(&co, &c), 0);
	while (got < 600 && tries++ < 6000) {
		struct kafka_msg m = { 0 };
		uint64_t w = kafka_consumer_wakeups(c);
		int rc = kafka_consumer_poll(c, 10, &m);

		/* Right after a wake (a seek clears librdkafka's position),
		 * the lag still counts from what was handed out. */
		if (kafka_consumer_wakeups(c) != w && nsnap < 64) {
			for (int32_t p = 0; p < 3; p++) {
				snap[nsnap].next[p] = next[p];
				if (kafka_consumer_lag(c, p, &snap[nsnap].lag[p]))
					snap[nsnap].lag[p] = -1;
			}
			nsnap++;
		}
		if (rc != 0)
			continue;
		ck_assert_int_lt(m.partition, 3);
		ck_assert_int_eq(m.offset, next[m.partition]);
		next[m.partition]++;
		kafka_msg_release(&m);
		got++;
	}
	ck_assert_int_eq(got, 600);
	ck_assert_int_eq(next[0] + next[1] + next[2], 600);
	ck_assert_uint_gt(kafka_consumer_wakeups(c), 0);
	ck_assert_int_gt(nsnap, 0);
	for (int i = 0; i < nsnap; i++)
		for (int32_t p = 0; p < 3; p++)
			ck_assert_msg(snap[i].lag[p] <= next[p] - snap[i].next[p],
				      "wake %d, partition %d: lag %lld after %lld of %lld handed out", i,
				      p, (long long)snap[i].lag[p], (long long)snap[i].next[p],
				      (long long)next[p]);
	for (int32_t p = 0; p < 3; p++) {
		int64_t lag = -1;

		ck_assert_int_eq(kafka_consumer_lag(c, p, &lag), 0);
		ck_assert_int_eq(lag, 0);
	}
	kafka_consumer_close(c);
	broker_down(&b);
}
END_TEST

/* When the fetcher is woken: steps of (message or poll at t) and whether a
 * poll wakes it. Times are in KAFKA_KICK_MIN_MS (M) from the first step. */
#define M KAFKA_KICK_MIN_MS
_Static_assert(M % 4 == 0 && M >= 4, "the table below needs quarters of KAFKA_KICK_MIN_MS");
static const struct {
	const char *name;
	struct { char ev; int64_t t; bool wake; } step[12];
} kicks[] = {
	{ "not while messages flow", { { 'm', 1000, 0 }, { 'p', 1000 + M / 2, 0 }, { 'm', 1000 + 3 * M / 4, 0 },
				       { 'p', 1000 + 3 * M / 2, 0 }, { 'p', 1000 + 7 * M / 4, 1 } } },
	{ "once per interval", { { 'm', 1000, 0 }, { 'p', 1000 + M, 1 }, { 'p', 1000 + 3 * M / 2, 0 },
				 { 'p', 1000 + 2 * M - 1, 0 } } },
	{ "the interval doubles while wakes bring nothing",
	  { { 'm', 1000, 0 }, { 'p', 1000 + M, 1 }, { 'p', 1000 + 2 * M, 0 }, { 'p', 1000 + 3 * M, 1 },
	    { 'p', 1000 + 6 * M, 0 }, { 'p', 1000 + 7 * M, 1 } } },
	{ "a message resets it", { { 'm', 1000, 0 }, { 'p', 1000 + M, 1 }, { 'p', 1000 + 3 * M, 1 },
				   { 'm', 1000 + 7 * M / 2, 0 }, { 'p', 1000 + 9 * M / 2, 1 } } },
	{ "capped at a second", { { 'm', 0, 0 }, { 'p', M, 1 }, { 'p', 3 * M, 1 }, { 'p', 7 * M, 1 },
				  { 'p', 15 * M, 1 }, { 'p', 31 * M, 1 }, { 'p', 63 * M, 1 },
				  { 'p', 127 * M, 1 }, { 'p', 255 * M, 1 },
				  { 'p', 255 * M + KAFKA_KICK_MAX_MS - 1, 0 },
				  { 'p', 255 * M + KAFKA_KICK_MAX_MS, 1 } } },
};
#undef M

START_TEST(fetcher_wakes_are_paced)
{
	struct kafka_kick k = { 0 };
	size_t i;

	for (i = 0; i < sizeof(kicks[0].step) / sizeof(kicks[0].step[0]) && kicks[_i].step[i].ev; i++) {
		if (kicks[_i].step[i].ev == 'm') {
			kafka_kick_msg(&k, kicks[_i].step[i].t);
			continue;
		}
		ck_assert_msg(kafka_kick_due(&k, kicks[_i].step[i].t) == kicks[_i].step[i].wake,
			      "%s: step %zu (t=%lld)", kicks[_i].name, i,
			      (long long)kicks[_i].step[i].t);
	}
}
END_TEST

START_TEST(headers_key_and_timestamp_are_copied)
{
	struct broker b;
	struct delivered d = { 0 };
	struct kafka_consumer_options co = { .group = "g3", .topic = "src",
					     .conf = quiet };
	struct kafka_producer_options po = { .conf = quiet,
					     .on_delivery = on_delivery,
					     .userdata = &d };
	struct kafka_consumer *c;
	struct kafka_producer *p;
	struct kafka_msg m = { 0 };
	const char *name;
	const void *val;
	size_t len;
	int tries = 0;
	rd_kafka_headers_t *h = rd_kafka_headers_new(2);

	broker_up(&b, "src", 1);
	{
	ck_assert_int_eq(rd_kafka_mock_topic_create(b.mc, "dst", 1, 1), 0);
	co.bootstrap = po.bootstrap = b.bootstrap;
	rd_kafka_header_add(h, "token", -1, "phc_abc", -1);
	rd_kafka_header_add(h, "empty", -1, NULL, 0);
	rd_kafka_conf_t *rc = rd_kafka_conf_new();
	rd_kafka_t *raw;
	char err[256];

	ck_assert_int_eq(rd_kafka_conf_set(rc, "bootstrap.servers", b.bootstrap,
					   err, sizeof(err)), RD_KAFKA_CONF_OK);
	raw = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(rd_kafka_producev(raw, RD_KAFKA_V_TOPIC("src"),
		RD_KAFKA_V_KEY("phc_abc:u1", 10), RD_KAFKA_V_VALUE("{}", 2),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_TIMESTAMP(424242), RD_KAFKA_V_HEADERS(h),
		RD_KAFKA_V_END), 0);
	ck_assert_int_eq(rd_kafka_flush(raw, 5000), 0);
	rd_kafka_destroy(raw);
	}
	ck_assert_int_eq(kafka_consumer_new(&co, &c), 0);
	ck_assert_int_eq(kafka_producer_new(&po, &p), 0);
	while (kafka_consumer_poll(c, 10, &m) != 0 && tries++ < 3000)
		;
	ck_assert_ptr_nonnull(m.priv);
	ck_assert_int_eq(kafka_produce(p, "dst", m.key, m.key_len, m.value,
				       m.len, &m, m.timestamp_ms, NULL), 0);
	kafka_msg_release(&m);
	kafka_msg_release(&m); /* twice is harmless */
	ck_assert_int_eq(kafka_producer_flush(p, 5000), 0);
	ck_assert_int_eq(d.ok, 1);
	kafka_consumer_close(c);
	co.topic = "dst";
	co.group = "g4";
	ck_assert_int_eq(kafka_consumer_new(&co, &c), 0);
	tries = 0;
	while (kafka_consumer_poll(c, 10, &m) != 0 && tries++ < 3000)
		;
	ck_assert_ptr_nonnull(m.priv);
	ck_assert_int_eq(m.key_len, 10);
	ck_assert_mem_eq(m.key, "phc_abc:u1", 10);
	ck_assert_int_eq(m.timestamp_ms, 424242);
	ck_assert_uint_eq(kafka_msg_header_count(&m), 2);
	ck_assert_int_eq(kafka_msg_header(&m, 0, &name, &val, &len), 0);
	ck_assert_str_eq(name, "token");
	ck_assert_uint_eq(len, 7);
	ck_assert_mem_eq(val, "phc_abc", 7);
	ck_assert_int_eq(kafka_msg_header(&m, 1, &name, &val, &len), 0);
	ck_assert_str_eq(name, "empty");
	ck_assert_ptr_null(val);
	ck_assert_int_eq(kafka_msg_header(&m, 2, &name, &val, &len), -ENOENT);
	kafka_msg_release(&m);
	kafka_consumer_close(c);
	kafka_producer_close(p, 1000);
	broker_down(&b);
}
END_TEST

static const struct {
	const char *conf[3];
	const char *group, *topic;
} bad_consumers[] = {
	{ { "no-equals-sign", NULL }, "g", "t" },
	{ { "=value", NULL }, "g", "t" },
	{ { "no.such.property=1", NULL }, "g", "t" },
	{ { "session.timeout.ms=banana", NULL }, "g", "t" },
	{ { NULL }, NULL, "t" },
	{ { NULL }, "g", "" },
	{ { NULL }, "g", NULL },
};

START_TEST(bad_consumer_options_are_refused)
{
	struct kafka_consumer_options o = {
		.bootstrap = "127.0.0.1:1", .conf = bad_consumers[_i].conf,
		.group = bad_consumers[_i].group, .topic = bad_consumers[_i].topic,
	};
	struct kafka_consumer *c = (void *)1;

	ck_assert_int_eq(kafka_consumer_new(&o, &c), -EINVAL);
	ck_assert_ptr_eq(c, (void *)1); /* untouched on failure */
}
END_TEST

START_TEST(bad_producer_options_are_refused)
{
	const char *conf[] = { "acks=sometimes", NULL };
	struct kafka_producer_options o = { .bootstrap = "127.0.0.1:1",
					    .conf = conf };
	struct kafka_producer *p = NULL;

	ck_assert_int_eq(kafka_producer_new(&o, &p), -EINVAL);
	ck_assert_ptr_null(p);
}
END_TEST

static const struct {
	rd_kafka_resp_err_t in;
	int out;
} errs[] = {
	{ RD_KAFKA_RESP_ERR_NO_ERROR, 0 },
	{ RD_KAFKA_RESP_ERR__QUEUE_FULL, -ENOBUFS },
	{ RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, -EMSGSIZE },
	{ RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, -ETIMEDOUT },
	{ RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, -ENOENT },
	{ RD_KAFKA_RESP_ERR__FATAL, -EIO },
	{ RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, -ECONNREFUSED },
	{ RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, -EACCES },
	{ RD_KAFKA_RESP_ERR_NOT_COORDINATOR, -EPROTO },
};

START_TEST(errors_map_to_errnos)
{
	ck_assert_int_eq(kafka_errno(errs[_i].in), errs[_i].out);
	ck_assert_ptr_nonnull(kafka_strerror(errs[_i].out));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kafka");
	TCase *t = tcase_create("kafka");
	SRunner *r;
	int failed;

	tcase_set_timeout(t, 60);
	tcase_add_test(t, produce_acknowledges_every_message);
	tcase_add_test(t, consume_store_and_read_back_the_commit);
	tcase_add_test(t, headers_key_and_timestamp_are_copied);
	tcase_add_test(t, parked_fetcher_is_woken_without_loss_or_doubles);
	tcase_add_loop_test(t, fetcher_wakes_are_paced, 0, sizeof(kicks) / sizeof(kicks[0]));
	tcase_add_loop_test(t, bad_consumer_options_are_refused, 0,
			    sizeof(bad_consumers) / sizeof(bad_consumers[0]));
	tcase_add_test(t, bad_producer_options_are_refused);
	tcase_add_loop_test(t, errors_map_to_errnos, 0,
			    sizeof(errs) / sizeof(errs[0]));
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}

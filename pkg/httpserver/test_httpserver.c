#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpserver.h"

static const struct {
	const char *addr;
	int rc;
	const char *host;
	int port;
} addrs[] = {
	{ ":8080", 0, NULL, 8080 },
	{ "8081", 0, NULL, 8081 },
	{ "127.0.0.1:0", 0, "127.0.0.1", 0 },
	{ "[::1]:9", 0, "::1", 9 },
	{ "localhost:x", -EINVAL, NULL, 0 },
	{ ":70000", -EINVAL, NULL, 0 },
	{ "", -EINVAL, NULL, 0 },
	{ "host:", -EINVAL, NULL, 0 },
};

START_TEST(test_parse_addr)
{
	char *host = (char *)"unchanged";
	int port = -1;
	int rc = httpserver_parse_addr(addrs[_i].addr, &host, &port);
	ck_assert_int_eq(rc, addrs[_i].rc);
	if (rc == 0) {
		ck_assert_int_eq(port, addrs[_i].port);
		if (addrs[_i].host)
			ck_assert_str_eq(host, addrs[_i].host);
		else
			ck_assert_ptr_null(host);
		free(host);
	}
}
END_TEST

static int hello(void *ud, struct buf *body, const char **ctype)
{
	(*(int *)ud)++;
	*ctype = "text/plain; version=0.0.4";
	buf_puts(body, "hello\n");
	return 200;
}

static int big(void *ud, struct buf *body, const char **ctype)
{
	for (int i = 0; i < 100000; i++)
		buf_putf(body, "line %06d\n", i);
	return 503;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
	return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* A GET (or HEAD) into out: the status, or -1 when no response came
 * within timeout_s. */
static long try_fetch(int port, const char *path, bool head, struct buf *out, long timeout_s)
{
	char url[128];
	long code = -1;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, head ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

/* A request that must be answered. */
static long fetch(int port, const char *path, bool head, struct buf *out)
{
	long code = try_fetch(port, path, head, out, 30);

	ck_assert_int_ne(code, -1);
	return code;
}

START_TEST(test_serve)
{
	int calls = 0;
	struct httpserver_options o = {
		.addr = "127.0.0.1:0",
		.routes = { { "/hello", hello, &calls }, { "/big", big, NULL } },
	};
	struct httpserver *s;
	ck_assert_int_eq(httpserver_start(&o, &s), 0);
	int port = httpserver_port(s);
	ck_assert_int_gt(port, 0);
	struct buf b;
	buf_init(&b, 1 << 24);
	ck_assert_int_eq(fetch(port, "/hello", false, &b), 200);
	ck_assert_str_eq(buf_str(&b), "hello\n");
	buf_reset(&b);
	ck_assert_int_eq(fetch(port, "/hello", true, &b), 200);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(fetch(port, "/nope", false, &b), 404);
	buf_reset(&b);
	ck_assert_int_eq(fetch(port, "/big", false, &b), 503);
	ck_assert_uint_eq(b.len, 100000 * 12);
	ck_assert_int_eq(calls, 2);
	buf_free(&b);

	/* the same port cannot be bound twice */
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	struct httpserver_options o2 = { .addr = addr };
	struct httpserver *s2 = NULL;
	ck_assert_int_eq(httpserver_start(&o2, &s2), -EADDRINUSE);
	httpserver_stop(s);
	httpserver_stop(NULL);
}
END_TEST

/* A TCP connection to port that sends nothing; -1 on failure. */
static int idle_conn(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* max_connections bounds the connections held at once. With that many
 * idle ones open a GET is still answered; with twice as many (and more
 * than lws's own few fds) another connection waits unanswered in the
 * listen backlog; once they close, it is answered. The bound is also what
 * keeps lws's tables from growing with the open-file limit (httpserver.h). */
START_TEST(test_max_connections)
{
	enum { MAX = 8, OVER = 2 * MAX + 8 };
	int calls = 0, fds[OVER], i;
	struct httpserver_options o = {
		.addr = "127.0.0.1:0",
		.routes = { { "/hello", hello, &calls } },
		.max_connections = MAX,
	};
	struct httpserver *s;
	struct buf b;

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(httpserver_start(&o, &s), 0);
	int port = httpserver_port(s);
	for (i = 0; i < MAX; i++)
		ck_assert_int_ge(fds[i] = idle_conn(port), 0);
	ck_assert_int_eq(try_fetch(port, "/hello", false, &b, 10), 200);
	for (; i < OVER; i++)
		ck_assert_int_ge(fds[i] = idle_conn(port), 0);
	ck_assert_int_eq(try_fetch(port, "/hello", false, &b, 2), -1);
	for (i = 0; i < OVER; i++)
		close(fds[i]);
	ck_assert_int_eq(try_fetch(port, "/hello", false, &b, 10), 200);
	httpserver_stop(s);
	buf_free(&b);
}
END_TEST

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	Suite *s = suite_create("httpserver");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_parse_addr, 0, sizeof(addrs) / sizeof(addrs[0]));
	tcase_add_test(tc, test_serve);
	tcase_add_test(tc, test_max_connections);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}

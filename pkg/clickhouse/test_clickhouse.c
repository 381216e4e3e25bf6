/*
 * Unit tests of the ClickHouse client: quoting, the request it sends and the
 * answers it understands, with a fixture transport in place of a server.
 * The answers are the texts a real 18.16 and a newer server send.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "clickhouse-private.h"

static const struct {
	const char *in, *lit, *ident;
} quote_cases[] = {
	{"", "''", "``"},
	{"abc", "'abc'", "`abc`"},
	{"it's", "'it\\'s'", "`it's`"},
	{"a\\b", "'a\\\\b'", "`a\\\\b`"},
	{"back`tick", "'back`tick'", "`back\\`tick`"},
	{"l1\nl2\tx\r", "'l1\\nl2\\tx\\r'", "`l1\\nl2\\tx\\r`"},
	{"\x01\x7f", "'\\x01\\x7F'", "`\\x01\\x7F`"},
	{"'; DROP TABLE x; --", "'\\'; DROP TABLE x; --'", "`'; DROP TABLE x; --`"},
	{"h\xc3\xa9", "'h\xc3\xa9'", "`h\xc3\xa9`"},
};

START_TEST(test_quote)
{
	struct buf b;

	buf_init(&b, 1024);
	ck_assert_int_eq(ch_quote(quote_cases[_i].in, &b), 0);
	ck_assert_str_eq(buf_str(&b), quote_cases[_i].lit);
	buf_reset(&b);
	ck_assert_int_eq(ch_quote_ident(quote_cases[_i].in, &b), 0);
	ck_assert_str_eq(buf_str(&b), quote_cases[_i].ident);
	buf_free(&b);
}
END_TEST

START_TEST(test_quote_cap)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_append_str(&b, "x="), 0);
	ck_assert_int_eq(ch_quote("0123456789", &b), -EMSGSIZE);
	ck_assert_str_eq(buf_str(&b), "x=");
	ck_assert_int_eq(ch_quote("abc", &b), 0);
	ck_assert_str_eq(buf_str(&b), "x='abc'");
	buf_free(&b);
}
END_TEST

static const struct {
	const char *db;
	bool json;
	const char *want;
} pq_cases[] = {
	{NULL, false, "/?"},
	{NULL, true, "/?default_format=JSON"},
	{"posthog", true, "/?database=posthog&default_format=JSON"},
	{"posthog", false, "/?database=posthog"},
	{"a b&c=d", false, "/?database=a%20b%26c%3Dd"},
};

START_TEST(test_path_query)
{
	struct buf b;

	buf_init(&b, 256);
	ck_assert_int_eq(ch_path_query(pq_cases[_i].db, pq_cases[_i].json, &b), 0);
	ck_assert_str_eq(buf_str(&b), pq_cases[_i].want);
	buf_free(&b);
}
END_TEST

static const struct {
	int code, want;
} status_cases[] = {
	{200, 0}, {204, 0}, {400, -EIO}, {401, -EACCES}, {403, -EACCES},
	{404, -EIO}, {500, -EIO}, {502, -EIO}, {0, -EIO},
};

START_TEST(test_status)
{
	ck_assert_int_eq(ch_status_errno(status_cases[_i].code),
			 status_cases[_i].want);
}
END_TEST

static const struct {
	const char *body;
	bool found;
	const char *want;
} exc_cases[] = {
	/* 18.16 */
	{"Code: 47, e.displayText() = DB::Exception: Unknown identifier: nosuch, e.what() = DB::Exception\n",
	 true,
	 "Code: 47, e.displayText() = DB::Exception: Unknown identifier: nosuch, e.what() = DB::Exception"},
	/* 23.x */
	{"Code: 60. DB::Exception: Table posthog.x does not exist. (UNKNOWN_TABLE) (version 23.9.2.56 (official build))\n",
	 true,
	 "Code: 60. DB::Exception: Table posthog.x does not exist. (UNKNOWN_TABLE) (version 23.9.2.56 (official build))"},
	/* an exception after streamed rows: the last one counts */
	{"{\"data\":[{\"x\":1},\nCode: 241. DB::Exception: Memory limit exceeded\n", true,
	 "Code: 241. DB::Exception: Memory limit exceeded"},
	/* not ClickHouse: the body as it is */
	{"  <html>Bad Gateway</html>\n", false, "<html>Bad Gateway</html>"},
	{"Code: 12 is not an exception", false, "Code: 12 is not an exception"},
	{"", false, ""},
};

START_TEST(test_exception)
{
	char err[512];

	ck_assert(ch_extract_exception(exc_cases[_i].body, strlen(exc_cases[_i].body),
				       err, sizeof(err)) == exc_cases[_i].found);
	ck_assert_str_eq(err, exc_cases[_i].want);
}
END_TEST

START_TEST(test_exception_truncates)
{
	char err[16];

	ck_assert(ch_extract_exception("Code: 1, e.displayText() = DB::Exception: long", 46,
				       err, sizeof(err)));
	ck_assert_str_eq(err, "Code: 1, e.disp");
}
END_TEST

static const char answer_json[] =
	"{\n\t\"meta\": [{\"name\": \"name\", \"type\": \"String\"}],\n"
	"\t\"data\": [{\"name\": \"kafka_events_json\", \"n\": \"18446744073709551615\"},"
	"{\"name\": \"events_json_mv\", \"n\": \"1\"}],\n"
	"\t\"rows\": 2,\n\t\"statistics\": {\"elapsed\": 0.0001}\n}\n";

START_TEST(test_parse_rows)
{
	cJSON *rows = NULL;
	char err[128];

	ck_assert_int_eq(ch_parse_rows(answer_json, strlen(answer_json), &rows, err,
				       sizeof(err)), 0);
	ck_assert_int_eq(cJSON_GetArraySize(rows), 2);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "name")->valuestring,
			 "kafka_events_json");
	cJSON_Delete(rows);

	rows = NULL;
	ck_assert_int_eq(ch_parse_rows("{\"rows\": 0}", 11, &rows, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_ptr_null(rows);
	ck_assert_int_eq(ch_parse_rows("not json", 8, &rows, err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "clickhouse: answer is not JSON");
	ck_assert_int_eq(ch_parse_rows("{\"data\":[\nCode: 241. DB::Exception: x\n", 38,
				       &rows, err, sizeof(err)), -EIO);
	ck_assert_str_eq(err, "Code: 241. DB::Exception: x");
	ck_assert_ptr_null(rows);
}
END_TEST

/* A fixture transport: records the request, answers what it is told. */
struct fixture {
	char path[256];
	char headers[1024];
	char body[1024];
	int rc;
	int code;
	const char *answer;
	size_t answer_repeat;
	int calls;
};

static int fixture_send(void *userdata, const char *path_query,
			const char *const *headers, const char *body,
			size_t body_len, struct buf *out, int *http_code)
{
	struct fixture *f = userdata;
	size_t i, n = 0;
	int r;

	f->calls++;
	snprintf(f->path, sizeof(f->path), "%s", path_query);
	f->headers[0] = '\0';
	for (i = 0; headers[i]; i++)
		n += (size_t)snprintf(f->headers + n, sizeof(f->headers) - n, "%s|",
				      headers[i]);
	snprintf(f->body, sizeof(f->body), "%.*s", (int)body_len, body);
	if (f->rc < 0)
		return f->rc;
	for (i = 0; i < (f->answer_repeat ? f->answer_repeat : 1); i++) {
		r = buf_append_str(out, f->answer ? f->answer : "");
		if (r < 0)
			return r;
	}
	*http_code = f->code;
	return 0;
}

static struct ch_client *fixture_client(struct fixture *f, const char *password,
					size_t max_body)
{
	struct ch_options o = {
		.transport = fixture_send,
		.transport_userdata = f,
		.user = "admin",
		.password = password,
		.database = "posthog",
		.max_body = max_body,
	};
	struct ch_client *c = NULL;

	ck_assert_int_eq(ch_new(&o, &c), 0);
	return c;
}

START_TEST(test_new_args)
{
	struct ch_options o = {0};
	struct ch_client *c = NULL;

	ck_assert_int_eq(ch_new(&o, &c), -EINVAL);
	o.url = "http://127.0.0.1:1";
	o.transport = fixture_send;
	ck_assert_int_eq(ch_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	ch_free(NULL);
}
END_TEST

/* Credentials that would split an HTTP header never reach a request: the
 * client refuses them and the transport is never called. */
static const struct {
	const char *user, *password;
} bad_cred_cases[] = {
	{"admin", "x\r\nX-Injected: 1"},
	{"admin", "x\r\n\r\nGET /api/v1/namespaces/kube-system/secrets HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"admin", "trailing\n"},
	{"admin", "lf\nonly"},
	{"admin", "cr\ronly"},
	{"admin", "tab\there"},
	{"admin", "bell\x07"},
	{"admin", "del\x7f"},
	{"ad\r\nmin", "ok"},
};

START_TEST(test_new_refuses_header_breaking_credentials)
{
	struct fixture f = {.code = 200, .answer = ""};
	struct ch_options o = {.transport = fixture_send, .transport_userdata = &f,
			       .user = bad_cred_cases[_i].user,
			       .password = bad_cred_cases[_i].password};
	struct ch_client *c = NULL;

	ck_assert_int_eq(ch_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(f.calls, 0);
}
END_TEST

/* What a Secret's decoded value becomes: one trailing LF or CRLF is
 * trimmed, any other control byte (NUL included) refused at its offset. */
static const struct {
	const char *in;
	size_t len;
	int rc;
	const char *out;
	size_t bad_at;
} clean_cases[] = {
	{"s3cret", 6, 0, "s3cret", 0},
	{"s3cret\n", 7, 0, "s3cret", 0},
	{"s3cret\r\n", 8, 0, "s3cret", 0},
	{"", 0, 0, "", 0},
	{"\n", 1, 0, "", 0},
	{"s3cret\n\n", 8, -EINVAL, NULL, 6},
	{"s3cret\r", 7, -EINVAL, NULL, 6},
	{"a\r\nX-Injected: 1", 17, -EINVAL, NULL, 1},
	{"a\nb", 3, -EINVAL, NULL, 1},
	{"a\tb", 3, -EINVAL, NULL, 1},
	{"a\x01b", 3, -EINVAL, NULL, 1},
	{"a\x1b[31m", 6, -EINVAL, NULL, 1},
	{"ab\x7f", 3, -EINVAL, NULL, 2},
	{"a\0b", 3, -EINVAL, NULL, 1},
	{"h\xc3\xa9 ok", 6, 0, "h\xc3\xa9 ok", 0},
};

START_TEST(test_credential_clean)
{
	char v[64];
	size_t len = clean_cases[_i].len, bad = 999;

	memcpy(v, clean_cases[_i].in, len);
	v[len] = '\0';
	ck_assert_int_eq(ch_credential_clean(v, &len, &bad), clean_cases[_i].rc);
	if (clean_cases[_i].rc == 0) {
		ck_assert_str_eq(v, clean_cases[_i].out);
		ck_assert_uint_eq(len, strlen(clean_cases[_i].out));
	} else {
		ck_assert_uint_eq(bad, clean_cases[_i].bad_at);
		ck_assert_uint_eq(len, clean_cases[_i].len);
	}
}
END_TEST

static const struct {
	const char *err;
	int code;
} code_cases[] = {
	{"Code: 81, e.displayText() = DB::Exception: Database posthog2 doesn't exist", 81},
	{"Code: 57. DB::Exception: Table posthog.x already exists.", 57},
	{"clickhouse: http://x: Couldn't connect to server", -1},
	{"Code: x", -1},
	{"", -1},
	{NULL, -1},
};

START_TEST(test_exception_code)
{
	ck_assert_int_eq(ch_exception_code(code_cases[_i].err), code_cases[_i].code);
}
END_TEST

START_TEST(test_exec_request)
{
	struct fixture f = {.code = 200, .answer = ""};
	struct ch_client *c = fixture_client(&f, "s3cret", 0);
	char err[256] = "";

	ck_assert_int_eq(ch_exec(c, "CREATE TABLE t (x UInt8) ENGINE = Memory", err,
				 sizeof(err)), 0);
	ck_assert_str_eq(f.path, "/?database=posthog");
	ck_assert_str_eq(f.body, "CREATE TABLE t (x UInt8) ENGINE = Memory");
	ck_assert_ptr_nonnull(strstr(f.headers, "X-ClickHouse-User: admin|"));
	ck_assert_ptr_nonnull(strstr(f.headers, "X-ClickHouse-Key: s3cret|"));
	ch_free(c);
}
END_TEST

START_TEST(test_no_password_no_key)
{
	struct fixture f = {.code = 200};
	struct ch_options o = {.transport = fixture_send, .transport_userdata = &f};
	struct ch_client *c = NULL;

	ck_assert_int_eq(ch_new(&o, &c), 0);
	ck_assert_int_eq(ch_exec(c, "SELECT 1", NULL, 0), 0);
	ck_assert_str_eq(f.path, "/?");
	ck_assert_ptr_nonnull(strstr(f.headers, "X-ClickHouse-User: default|"));
	ck_assert_ptr_null(strstr(f.headers, "X-ClickHouse-Key"));
	ch_free(c);
}
END_TEST

START_TEST(test_query_rows)
{
	struct fixture f = {.code = 200, .answer = answer_json};
	struct ch_client *c = fixture_client(&f, NULL, 0);
	cJSON *rows = NULL;
	char err[256];

	ck_assert_int_eq(ch_query(c, "SELECT name FROM system.tables", &rows, err,
				  sizeof(err)), 0);
	ck_assert_str_eq(f.path, "/?database=posthog&default_format=JSON");
	ck_assert_int_eq(cJSON_GetArraySize(rows), 2);
	cJSON_Delete(rows);
	ch_free(c);
}
END_TEST

/* What failed answers become: errno and err. */
static const struct {
	int code;
	const char *answer;
	int want;
	const char *err;
} fail_cases[] = {
	{500, "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1, e.what() = DB::Exception\n",
	 -EIO, "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1, e.what() = DB::Exception"},
	{404, "Code: 60. DB::Exception: Table posthog.x does not exist. (UNKNOWN_TABLE)\n",
	 -EIO, "Code: 60. DB::Exception: Table posthog.x does not exist. (UNKNOWN_TABLE)"},
	{401, "Code: 193, e.displayText() = DB::Exception: Wrong password for user admin, e.what() = DB::Exception\n",
	 -EACCES, "Code: 193, e.displayText() = DB::Exception: Wrong password for user admin, e.what() = DB::Exception"},
	{403, "Code: 516. DB::Exception: admin: Authentication failed. (AUTHENTICATION_FAILED)\n",
	 -EACCES, "Code: 516. DB::Exception: admin: Authentication failed. (AUTHENTICATION_FAILED)"},
	{502, "", -EIO, "clickhouse: HTTP status 502"},
	{503, "no endpoints available for service \"clickhouse\"\n", -EIO,
	 "no endpoints available for service \"clickhouse\""},
	/* status 200 with an exception at the end of a streamed answer */
	{200, "Code: 241. DB::Exception: Memory limit exceeded\n", -EIO,
	 "Code: 241. DB::Exception: Memory limit exceeded"},
};

START_TEST(test_failures)
{
	struct fixture f = {.code = fail_cases[_i].code, .answer = fail_cases[_i].answer};
	struct ch_client *c = fixture_client(&f, "pw", 0);
	cJSON *rows = NULL;
	char err[256] = "";

	ck_assert_int_eq(ch_exec(c, "X", err, sizeof(err)), fail_cases[_i].want);
	ck_assert_str_eq(err, fail_cases[_i].err);
	err[0] = '\0';
	ck_assert_int_eq(ch_query(c, "X", &rows, err, sizeof(err)), fail_cases[_i].want);
	ck_assert_str_eq(err, fail_cases[_i].err);
	ck_assert_ptr_null(rows);
	ch_free(c);
}
END_TEST

START_TEST(test_body_cap)
{
	struct fixture f = {.code = 200, .answer = "0123456789", .answer_repeat = 20};
	struct ch_client *c = fixture_client(&f, NULL, 100);
	cJSON *rows = NULL;
	char err[256];

	ck_assert_int_eq(ch_query(c, "SELECT 1", &rows, err, sizeof(err)), -EMSGSIZE);
	ck_assert_ptr_null(rows);
	ch_free(c);
}
END_TEST

START_TEST(test_transport_error)
{
	struct fixture f = {.rc = -ECONNREFUSED};
	struct ch_client *c = fixture_client(&f, NULL, 0);
	char err[256];

	ck_assert_int_eq(ch_exec(c, "SELECT 1", err, sizeof(err)), -ECONNREFUSED);
	ck_assert_str_eq(err, "clickhouse: transport: connection refused");
	ch_free(c);
}
END_TEST

/* libcurl against a closed loopback port: no server, no hang. */
START_TEST(test_curl_refused)
{
	struct ch_options o = {.url = "http://127.0.0.1:1/", .timeout_ms = 2000};
	struct ch_client *c = NULL;
	char err[256];

	ck_assert_int_eq(ch_new(&o, &c), 0);
	ck_assert_int_eq(ch_exec(c, "SELECT 1", err, sizeof(err)), -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(err, "http://127.0.0.1:1"));
	ch_free(c);
}
END_TEST

static const struct {
	const char *spec;
	int rc;
	const char *why; /* in the message when rc < 0 */
} connect_to_cases[] = {
	{"clickhouse.ns.svc:8123:127.0.0.1:18123", 0, NULL},
	{"::127.0.0.1:18123", 0, NULL},
	{":8123:127.0.0.1:", 0, NULL},
	{"a:1::65535", 0, NULL},
	{"[::1]:8123:[::1]:9000", 0, NULL},
	{"host:8123:[fe80::1]:80", 0, NULL},
	{"svc_x-1.ns:80:localhost:80", 0, NULL},
	{"", -EINVAL, "no PORT"},
	{"a:1:b", -EINVAL, "no CONNECT-PORT"},
	{"a:1:b:2:3", -EINVAL, "CONNECT-PORT"},
	{"a:0:b:2", -EINVAL, "PORT is not a valid port"},
	{"a:65536:b:2", -EINVAL, "PORT is not a valid port"},
	{"a:1:b:123456", -EINVAL, "CONNECT-PORT"},
	{"a:x:b:2", -EINVAL, "PORT"},
	{"a:1::", -EINVAL, "both empty"},
	{":::", -EINVAL, "both empty"},
	{"a b:1:c:2", -EINVAL, "HOST"},
	{"[]:1:c:2", -EINVAL, "HOST is not a valid host"},
	{"[::1:1:c:2", -EINVAL, "HOST is not a valid host"},
	{"a:1:c/d:2", -EINVAL, "CONNECT-HOST"},
	{"a:1:c:-2", -EINVAL, "CONNECT-PORT"},
};

START_TEST(test_connect_to_check)
{
	char err[256] = "";
	int rc = ch_connect_to_check(connect_to_cases[_i].spec, err, sizeof(err));

	ck_assert_msg(rc == connect_to_cases[_i].rc, "%s: got %d (%s)",
		      connect_to_cases[_i].spec, rc, err);
	if (connect_to_cases[_i].why)
		ck_assert_msg(strstr(err, connect_to_cases[_i].why), "%s: message \"%s\"",
			      connect_to_cases[_i].spec, err);
}
END_TEST

/* A mapping sends a request for a name that does not resolve (.invalid,
 * RFC 6761) to a closed loopback port: refused, not a resolver failure.
 * Then, with no name lookup at all: a listener on loopback that never
 * answers is reached without the mapping (a timeout) and not with it
 * (refused at the mapped closed port). */
START_TEST(test_connect_to_used)
{
	const char *const map[] = {"clickhouse.invalid:8123:127.0.0.1:1", NULL};
	const char *const bad[] = {"clickhouse.invalid:8123", NULL};
	struct ch_options o = {.url = "http://clickhouse.invalid:8123", .timeout_ms = 2000,
			       .connect_to = bad};
	struct ch_client *c = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	char err[256], url[64], spec[64];
	const char *away[] = {spec, NULL};
	int fd;

	ck_assert_int_eq(ch_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	o.connect_to = map;
	ck_assert_int_eq(ch_new(&o, &c), 0);
	ck_assert_int_eq(ch_exec(c, "SELECT 1", err, sizeof(err)), -ECONNREFUSED);
	ch_free(c);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	snprintf(spec, sizeof(spec), "127.0.0.1:%u:127.0.0.1:1", ntohs(sa.sin_port));
	o.url = url;
	o.timeout_ms = 300;
	o.connect_to = away;
	ck_assert_int_eq(ch_new(&o, &c), 0);
	ck_assert_int_eq(ch_exec(c, "SELECT 1", err, sizeof(err)), -ECONNREFUSED);
	ch_free(c);
	o.connect_to = NULL;
	ck_assert_int_eq(ch_new(&o, &c), 0);
	ck_assert_int_eq(ch_exec(c, "SELECT 1", err, sizeof(err)), -ETIMEDOUT);
	ch_free(c);
	close(fd);
}
END_TEST

START_TEST(test_strerror)
{
	ck_assert_str_eq(ch_strerror(-EIO), "the server refused the query");
	ck_assert_str_eq(ch_strerror(-EACCES), "the server refused the credentials");
	ck_assert_str_eq(ch_strerror(-12345), "transport failure");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("clickhouse");
	TCase *t = tcase_create("core");

	tcase_add_loop_test(t, test_quote, 0, sizeof(quote_cases) / sizeof(quote_cases[0]));
	tcase_add_test(t, test_quote_cap);
	tcase_add_loop_test(t, test_path_query, 0, sizeof(pq_cases) / sizeof(pq_cases[0]));
	tcase_add_loop_test(t, test_status, 0, sizeof(status_cases) / sizeof(status_cases[0]));
	tcase_add_loop_test(t, test_exception, 0, sizeof(exc_cases) / sizeof(exc_cases[0]));
	tcase_add_test(t, test_exception_truncates);
	tcase_add_test(t, test_parse_rows);
	tcase_add_test(t, test_new_args);
	tcase_add_loop_test(t, test_new_refuses_header_breaking_credentials, 0,
			    sizeof(bad_cred_cases) / sizeof(bad_cred_cases[0]));
	tcase_add_loop_test(t, test_credential_clean, 0,
			    sizeof(clean_cases) / sizeof(clean_cases[0]));
	tcase_add_loop_test(t, test_exception_code, 0, sizeof(code_cases) / sizeof(code_cases[0]));
	tcase_add_test(t, test_exec_request);
	tcase_add_test(t, test_no_password_no_key);
	tcase_add_test(t, test_query_rows);
	tcase_add_loop_test(t, test_failures, 0, sizeof(fail_cases) / sizeof(fail_cases[0]));
	tcase_add_test(t, test_body_cap);
	tcase_add_test(t, test_transport_error);
	tcase_add_test(t, test_curl_refused);
	tcase_add_loop_test(t, test_connect_to_check, 0,
			    sizeof(connect_to_cases) / sizeof(connect_to_cases[0]));
	tcase_add_test(t, test_connect_to_used);
	tcase_add_test(t, test_strerror);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

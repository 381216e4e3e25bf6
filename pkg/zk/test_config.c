/* The configuration parser and the error map: table-driven. */
#include <errno.h>
#include <string.h>

#include <check.h>
#define THREADED 1
#include <zookeeper/zookeeper.h>

#include "zk.h"

static const struct {
	const char *text;
	int rc;
	int64_t version;
	const char *ids; /* "1p,2p,4o" */
} cases[] = {
	{"server.1=a:2888:3888:participant;0.0.0.0:2181\n"
	 "server.2=b:2888:3888:participant;0.0.0.0:2181\nversion=100000000", 0, 0x100000000LL,
	 "1p,2p"},
	{"server.3=c:1:2;2181\nserver.1=a:1:2:observer;2181\n", 0, -1, "1o,3p"},
	{"server.5=[::1]:1:2;[::1]:2181\nversion=a", 0, 10, "5p"},
	{"server.5=127.0.0.1:1:2:observer\r\n\r\n", 0, -1, "5o"},
	{"", 0, -1, ""},
	{"server.0=a:1:2;2181", -EINVAL, 0, NULL},
	{"server.256=a:1:2;2181", -EINVAL, 0, NULL},
	{"server.x=a:1:2;2181", -EINVAL, 0, NULL},
	{"server.1=a:1;2181", -EINVAL, 0, NULL},
	{"server.1=a:1:2:leader;2181", -EINVAL, 0, NULL},
	{"server.1=a:1:2\nserver.1=b:1:2", -EINVAL, 0, NULL},
	{"version=xyz", -EINVAL, 0, NULL},
	{"clientPort=2181", -EINVAL, 0, NULL},
	{"server.=a:1:2", -EINVAL, 0, NULL},
};

START_TEST(test_parse)
{
	struct zk_config c;
	char err[256] = "", got[256] = "";
	int rc = zk_config_parse(cases[_i].text, &c, err, sizeof(err));

	ck_assert_msg(rc == cases[_i].rc, "case %d: rc %d (%s)", _i, rc, err);
	if (rc < 0) {
		ck_assert_msg(strstr(err, "zookeeper configuration line") != NULL, "%s", err);
		return;
	}
	ck_assert_int_eq(c.version, cases[_i].version);
	for (size_t i = 0; i < c.n; i++) {
		size_t n = strlen(got);

		snprintf(got + n, sizeof(got) - n, "%s%d%c", i ? "," : "", c.servers[i].id,
			 c.servers[i].role == ZK_OBSERVER ? 'o' : 'p');
	}
	ck_assert_str_eq(got, cases[_i].ids);
}
END_TEST

static const struct {
	int zoo;
	int err;
} errs[] = {
	{ZOK, 0},
	{ZNONODE, -ENOENT},
	{ZBADVERSION, -ESTALE},
	{ZNEWCONFIGNOQUORUM, -EAGAIN},
	{ZRECONFIGINPROGRESS, -EBUSY},
	{ZRECONFIGDISABLED, -EOPNOTSUPP},
	{ZNOAUTH, -EACCES},
	{ZCONNECTIONLOSS, -ETIMEDOUT},
	{ZSYSTEMERROR, -EIO},
};

START_TEST(test_errno)
{
	ck_assert_int_eq(zk_errno(errs[_i].zoo), errs[_i].err);
	ck_assert_ptr_nonnull(zk_strerror(errs[_i].err));
}
END_TEST

START_TEST(test_too_long)
{
	static char text[ZK_MAX_CONFIG + 2];
	struct zk_config c = {.n = 7};
	char err[128];

	memset(text, '\n', sizeof(text) - 1);
	ck_assert_int_eq(zk_config_parse(text, &c, err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(c.n, 7); /* untouched on failure */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("zookeeper");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_errno, 0, sizeof(errs) / sizeof(errs[0]));
	tcase_add_test(tc, test_too_long);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

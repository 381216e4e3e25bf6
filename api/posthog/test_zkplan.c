/* The ZooKeeper membership plan: table-driven. */
#include <errno.h>
#include <string.h>

#include <check.h>

#include "zkplan.h"

/* members "ppp" = servers 1..3 participants; 'o' an observer; "p-p" a gap
 * (servers 1 and 3). */
static const struct {
	const char *members;
	int pods, ready, want;
	int rc;
	enum ph_zk_action action;
	int id, replicas;
} cases[] = {
	/* steady */
	{"ppp", 3, 3, 3, 0, PH_ZK_DONE, 0, 3},
	{"ppp", 3, 2, 3, 0, PH_ZK_WAIT, 0, 3},
	/* growing 3 -> 5: a pod, then the add, one at a time */
	{"ppp", 3, 3, 5, 0, PH_ZK_SCALE, 0, 4},
	{"ppp", 4, 3, 5, 0, PH_ZK_WAIT, 0, 4},
	{"ppp", 4, 4, 5, 0, PH_ZK_ADD, 4, 4},
	{"pppp", 4, 4, 5, 0, PH_ZK_SCALE, 0, 5},
	{"pppp", 5, 5, 5, 0, PH_ZK_ADD, 5, 5},
	{"ppppp", 5, 5, 5, 0, PH_ZK_DONE, 0, 5},
	/* a pod started early (replicas raised by hand) joins in order */
	{"ppp", 5, 5, 5, 0, PH_ZK_ADD, 4, 5},
	/* shrinking 5 -> 3: remove, then the pod, one at a time */
	{"ppppp", 5, 5, 3, 0, PH_ZK_REMOVE, 5, 5},
	{"ppppp", 5, 4, 3, 0, PH_ZK_WAIT, 0, 5},
	{"pppp", 5, 5, 3, 0, PH_ZK_SCALE, 0, 4},
	{"pppp", 4, 4, 3, 0, PH_ZK_REMOVE, 4, 4},
	{"ppp", 4, 4, 3, 0, PH_ZK_SCALE, 0, 3},
	/* a member without a pod: nothing is removed until it is back */
	{"ppppp", 4, 4, 3, 0, PH_ZK_WAIT, 0, 5},
	/* down to one member (standaloneEnabled=false allows it) */
	{"pp", 2, 2, 1, 0, PH_ZK_REMOVE, 2, 2},
	/* not a configuration this operator made */
	{"ppo", 3, 3, 3, -EINVAL, PH_ZK_DONE, 0, 0},
	{"p-p", 3, 3, 3, -EINVAL, PH_ZK_DONE, 0, 0},
	{"", 3, 3, 3, -EINVAL, PH_ZK_DONE, 0, 0},
	{"ppp", 3, 3, 0, -EINVAL, PH_ZK_DONE, 0, 0},
};

START_TEST(test_plan)
{
	struct zk_config cfg = {.version = 1};
	struct ph_zk_step st;
	const char *m = cases[_i].members;
	int rc;

	for (size_t i = 0; m[i]; i++) {
		if (m[i] == '-')
			continue;
		cfg.servers[cfg.n].id = (int)i + 1;
		cfg.servers[cfg.n++].role = m[i] == 'o' ? ZK_OBSERVER : ZK_PARTICIPANT;
	}
	rc = ph_zk_plan(&cfg, cases[_i].pods, cases[_i].ready, cases[_i].want, &st);
	ck_assert_msg(rc == cases[_i].rc, "case %d: rc %d", _i, rc);
	ck_assert_msg(st.why[0] != '\0', "case %d: no reason", _i);
	if (rc < 0)
		return;
	ck_assert_msg(st.action == cases[_i].action, "case %d: action %d (%s)", _i, st.action,
		      st.why);
	ck_assert_int_eq(st.id, cases[_i].id);
	ck_assert_int_eq(st.replicas, cases[_i].replicas);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("zkplan");
	TCase *tc = tcase_create("plan");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_plan, 0, sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/*
 * The command line. kubectl hands a plugin its arguments unchanged
 * (`kubectl posthog status ph -n ns` runs `kubectl-posthog status ph -n
 * ns`), so global flags may come anywhere, as with kubectl itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static const struct {
	const char *name;
	enum kp_cmd cmd;
} commands[] = {
	{"status", KP_CMD_STATUS},   {"buckets", KP_CMD_BUCKETS},
	{"upgrade", KP_CMD_UPGRADE}, {"backup", KP_CMD_BACKUP},
	{"backups", KP_CMD_BACKUPS}, {"restore", KP_CMD_RESTORE},
	{"reshard", KP_CMD_RESHARD}, {"report", KP_CMD_REPORT},
	{"help", KP_CMD_HELP},       {"version", KP_CMD_VERSION},
};

/* A flag's value, and which subcommands take it (0 = every one). */
enum flag_id {
	F_KUBECONFIG, F_CONTEXT, F_NAMESPACE, F_OUTPUT, F_COLOR, F_HELP,
	F_EVENTS, F_TEAM, F_COUNT, F_TEAMS, F_TO, F_DRY_RUN, F_NAME, F_BACKUP,
	F_FILE, F_OPERATOR_NS, F_OPERATOR_LOG, F_LOG_LINES,
	F_S3_ENDPOINT, F_S3_BUCKET, F_S3_PREFIX, F_S3_REGION, F_S3_SECRET, F_REPLAY,
};

static const struct flag {
	const char *lng;
	char shrt;
	bool value;
	enum flag_id id;
	enum kp_cmd only; /* KP_CMD_NONE: global */
	enum kp_cmd also;
} flags[] = {
	{"kubeconfig", 0, true, F_KUBECONFIG, KP_CMD_NONE, KP_CMD_NONE},
	{"context", 0, true, F_CONTEXT, KP_CMD_NONE, KP_CMD_NONE},
	{"namespace", 'n', true, F_NAMESPACE, KP_CMD_NONE, KP_CMD_NONE},
	{"output", 'o', true, F_OUTPUT, KP_CMD_NONE, KP_CMD_NONE},
	{"color", 0, true, F_COLOR, KP_CMD_NONE, KP_CMD_NONE},
	{"help", 'h', false, F_HELP, KP_CMD_NONE, KP_CMD_NONE},
	{"events", 0, true, F_EVENTS, KP_CMD_STATUS, KP_CMD_STATUS},
	{"team", 0, true, F_TEAM, KP_CMD_BUCKETS, KP_CMD_BUCKETS},
	{"count", 0, true, F_COUNT, KP_CMD_BUCKETS, KP_CMD_BUCKETS},
	{"teams", 0, true, F_TEAMS, KP_CMD_BUCKETS, KP_CMD_BUCKETS},
	{"to", 0, true, F_TO, KP_CMD_UPGRADE, KP_CMD_UPGRADE},
	{"dry-run", 0, false, F_DRY_RUN, KP_CMD_UPGRADE, KP_CMD_UPGRADE},
	{"name", 0, true, F_NAME, KP_CMD_BACKUP, KP_CMD_RESTORE},
	{"s3-endpoint", 0, true, F_S3_ENDPOINT, KP_CMD_BACKUP, KP_CMD_RESTORE},
	{"s3-bucket", 0, true, F_S3_BUCKET, KP_CMD_BACKUP, KP_CMD_RESTORE},
	{"s3-prefix", 0, true, F_S3_PREFIX, KP_CMD_BACKUP, KP_CMD_RESTORE},
	{"s3-region", 0, true, F_S3_REGION, KP_CMD_BACKUP, KP_CMD_RESTORE},
	{"s3-secret", 0, true, F_S3_SECRET, KP_CMD_BACKUP, KP_CMD_RESTORE},
	{"replay-kafka", 0, false, F_REPLAY, KP_CMD_RESTORE, KP_CMD_RESTORE},
	{"backup", 0, true, F_BACKUP, KP_CMD_RESTORE, KP_CMD_RESTORE},
	{"file", 'f', true, F_FILE, KP_CMD_REPORT, KP_CMD_REPORT},
	{"operator-namespace", 0, true, F_OPERATOR_NS, KP_CMD_REPORT, KP_CMD_REPORT},
	{"operator-log", 0, true, F_OPERATOR_LOG, KP_CMD_REPORT, KP_CMD_REPORT},
	{"log-lines", 0, true, F_LOG_LINES, KP_CMD_REPORT, KP_CMD_REPORT},
};

const char *kp_usage(void)
{
	return "Usage: kubectl posthog COMMAND NAME [flags]\n"
	       "\n"
	       "Commands:\n"
	       "  status NAME                  components, buckets, upgrade, reshard, backups, Events\n"
	       "  buckets NAME                 the team -> bucket map\n"
	       "      --team N                 the bucket of team N\n"
	       "      --count K                preview the teams that move to K buckets\n"
	       "      --teams A-B              the team ids counted and previewed (1-10000)\n"
	       "  upgrade NAME --to VERSION --dry-run   the plan an upgrade runs\n"
	       "  backup NAME [--name B]       create a PostHogBackup now\n"
	       "  backups NAME                 list the PostHogBackups\n"
	       "  restore NAME --backup B [--name R] [--replay-kafka]   create a PostHogRestore\n"
	       "      --s3-endpoint URL --s3-bucket B [--s3-prefix P] [--s3-region R] --s3-secret S\n"
	       "                               the store (default: the newest backup's or schedule's)\n"
	       "  reshard NAME                 resharding progress\n"
	       "  report NAME [-f FILE]        support bundle (.tar.gz), Secrets redacted\n"
	       "      --operator-namespace NS  where the operator's pods run (all)\n"
	       "      --operator-log FILE      also include this operator log file\n"
	       "      --log-lines N            lines per operator pod (10000)\n"
	       "  version\n"
	       "\n"
	       "Flags:\n"
	       "  --kubeconfig PATH   kubeconfig file(s), ':'-separated ($KUBECONFIG)\n"
	       "  --context NAME      kubeconfig context (current-context)\n"
	       "  -n, --namespace NS  namespace (the context's)\n"
	       "  -o, --output json   print JSON\n"
	       "  --color auto|always|never   colour (auto: on a terminal, unless $NO_COLOR)\n"
	       "  --events N          status: Events shown (10)\n";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A DNS-1123 subdomain: what metadata.name accepts. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_teams(const char *s, struct kp_args *a)
{
	const char *dash = strchr(s, '-');
	char first[24];
	int64_t lo, hi;

	if (!dash || dash == s || (size_t)(dash - s) >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	if (parse_i64(first, 0, INT64_MAX, &lo) || parse_i64(dash + 1, 0, INT64_MAX, &hi) ||
	    hi < lo || hi - lo >= KP_MAX_TEAMS)
		return -EINVAL;
	a->teams_first = lo;
	a->teams_last = hi;
	return 0;
}

/* Applies one flag's value. */
static int set_flag(const struct flag *f, const char *flagname, const char *v,
		    struct kp_args *a, char *err, size_t errlen)
{
	int64_t n;

	switch (f->id) {
	case F_KUBECONFIG: a->kubeconfig = v; break;
	case F_CONTEXT: a->context = v; break;
	case F_NAMESPACE:
		if (!*v)
			return fail(err, errlen, "%s: want a namespace, got an empty value", flagname);
		a->ns = v;
		break;
	case F_OUTPUT:
		if (!strcmp(v, "json"))
			a->json = true;
		else if (!strcmp(v, "text") || !strcmp(v, "wide"))
			a->json = false;
		else
			return fail(err, errlen, "%s: unknown output format \"%s\" (want json or text)", flagname, v);
		break;
	case F_COLOR:
		if (!strcmp(v, "auto"))
			a->color = KP_COLOR_AUTO;
		else if (!strcmp(v, "always"))
			a->color = KP_COLOR_ALWAYS;
		else if (!strcmp(v, "never"))
			a->color = KP_COLOR_NEVER;
		else
			return fail(err, errlen, "%s: \"%s\" is not auto, always or never", flagname, v);
		break;
	case F_HELP: a->cmd = KP_CMD_HELP; break;
	case F_EVENTS:
		if (parse_i64(v, 0, KP_MAX_EVENTS, &n))
			return fail(err, errlen, "%s: \"%s\" is not a number from 0 to 1000", flagname, v);
		a->events = (unsigned)n;
		break;
	case F_TEAM:
		if (parse_i64(v, INT64_MIN, INT64_MAX, &n))
			return fail(err, errlen, "%s: \"%s\" is not a team id (an integer)", flagname, v);
		a->has_team = true;
		a->team = n;
		break;
	case F_COUNT:
		if (parse_i64(v, 1, 64, &n))
			return fail(err, errlen, "%s: \"%s\" is not a bucket count from 1 to 64", flagname, v);
		a->count = (unsigned)n;
		break;
	case F_TEAMS:
		if (parse_teams(v, a))
			return fail(err, errlen, "%s: \"%s\" is not a range FIRST-LAST of at most 10000000 team ids", flagname, v);
		break;
	case F_TO:
		if (!*v)
			return fail(err, errlen, "%s: want a version, got an empty value", flagname);
		a->to = v;
		break;
	case F_DRY_RUN: a->dry_run = true; break;
	case F_NAME:
	case F_BACKUP:
		if (!valid_name(v))
			return fail(err, errlen, "%s: \"%s\" is not a resource name (lowercase letters, digits, '-' and '.', at most 253)", flagname, v);
		if (f->id == F_NAME)
			a->object_name = v;
		else
			a->backup = v;
		break;
	case F_S3_ENDPOINT:
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
			return fail(err, errlen, "%s: \"%s\" is not an http(s) URL", flagname, v);
		a->s3_endpoint = v;
		break;
	case F_S3_BUCKET: a->s3_bucket = v; break;
	case F_S3_PREFIX: a->s3_prefix = v; break;
	case F_S3_REGION: a->s3_region = v; break;
	case F_S3_SECRET:
		if (!valid_name(v))
			return fail(err, errlen, "%s: \"%s\" is not a Secret name", flagname, v);
		a->s3_secret = v;
		break;
	case F_REPLAY: a->replay_kafka = true; break;
	case F_FILE: a->file = v; break;
	case F_OPERATOR_NS: a->operator_ns = v; break;
	case F_OPERATOR_LOG: a->operator_log = v; break;
	case F_LOG_LINES:
		if (parse_i64(v, 1, 1000000, &n))
			return fail(err, errlen, "%s: \"%s\" is not a number from 1 to 1000000", flagname, v);
		a->log_lines = (unsigned)n;
		break;
	}
	return 0;
}

static const struct flag *find_flag(const char *arg, const char **inline_val,
				    char *name, size_t namelen)
{
	const char *eq;
	size_t n;

	*inline_val = NULL;
	if (arg[1] != '-') { /* -n, -nNS, -n=NS */
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (flags[i].shrt && arg[1] == flags[i].shrt) {
				if (arg[2])
					*inline_val = arg[2] == '=' ? arg + 3 : arg + 2;
				snprintf(name, namelen, "-%c", flags[i].shrt);
				return &flags[i];
			}
		}
		snprintf(name, namelen, "%s", arg);
		return NULL;
	}
	eq = strchr(arg, '=');
	n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	snprintf(name, namelen, "--%.*s", (int)n, arg + 2);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strlen(flags[i].lng) == n && !strncmp(flags[i].lng, arg + 2, n)) {
			if (eq)
				*inline_val = eq + 1;
			return &flags[i];
		}
	}
	return NULL;
}

static int positional(const char *arg, struct kp_args *a, char *err, size_t errlen)
{
	if (a->cmd == KP_CMD_NONE) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
			if (!strcmp(arg, commands[i].name)) {
				a->cmd = commands[i].cmd;
				return 0;
			}
		}
		return fail(err, errlen, "unknown command \"%s\" (want status, buckets, upgrade, backup, backups, restore, reshard or report)", arg);
	}
	if (a->cmd == KP_CMD_HELP)
		return 0;
	if (a->cmd == KP_CMD_VERSION || a->name)
		return fail(err, errlen, "unexpected argument \"%s\"", arg);
	if (strlen(arg) > 253)
		return fail(err, errlen, "NAME: \"%.40s...\" is longer than 253 characters", arg);
	a->name = arg;
	return 0;
}

/* Second pass, once the subcommand is known: flags only some take. */
static int check_scope(const bool *seen, const char *const *seen_as,
		       struct kp_args *a, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (!seen[i] || flags[i].only == KP_CMD_NONE || a->cmd == KP_CMD_HELP)
			continue;
		if (a->cmd != flags[i].only && a->cmd != flags[i].also)
			return fail(err, errlen, "%s: not a flag of this command (see --help)",
				    seen_as[i]);
	}
	return 0;
}

static int check_command(struct kp_args *a, char *err, size_t errlen)
{
	if (a->cmd == KP_CMD_NONE)
		return fail(err, errlen, "no command given (want status, buckets, upgrade, backup, backups, restore, reshard or report)");
	if (a->cmd == KP_CMD_HELP || a->cmd == KP_CMD_VERSION)
		return 0;
	if (!a->name)
		return fail(err, errlen, "NAME: the PostHog's name is missing");
	if (a->cmd == KP_CMD_UPGRADE && !a->to)
		return fail(err, errlen, "--to: missing; say which version to plan for");
	if (a->cmd == KP_CMD_UPGRADE && !a->dry_run)
		return fail(err, errlen, "--dry-run: missing; the plugin only plans. To upgrade, set spec.version (kubectl patch posthog %s --type merge -p '{\"spec\":{\"version\":\"%s\"}}')", a->name, a->to);
	if (a->cmd == KP_CMD_RESTORE && !a->backup)
		return fail(err, errlen, "--backup: missing; name the backup to restore (kubectl posthog backups %s)", a->name);
	return 0;
}

int kp_parse_args(int argc, char *const *argv, struct kp_args *out,
		  char *err, size_t errlen)
{
	struct kp_args a = {
		.events = 10, .teams_first = 1, .teams_last = 10000, .log_lines = 10000,
	};
	enum { NF = sizeof(flags) / sizeof(flags[0]) };
	bool seen[NF] = {0};
	char seen_as[NF][40];
	const char *seen_ptr[NF];
	bool no_more_flags = false;
	int r;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v;
		const struct flag *f;
		char name[40];

		if (no_more_flags || arg[0] != '-' || !arg[1]) {
			if ((r = positional(arg, &a, err, errlen)))
				return r;
			continue;
		}
		if (!strcmp(arg, "--")) {
			no_more_flags = true;
			continue;
		}
		f = find_flag(arg, &v, name, sizeof(name));
		if (!f)
			return fail(err, errlen, "unknown flag %s (see --help)", name);
		if (f->value && !v) {
			if (i + 1 >= argc)
				return fail(err, errlen, "%s: needs a value", name);
			v = argv[++i];
		} else if (!f->value && v) {
			return fail(err, errlen, "%s: takes no value", name);
		}
		if ((r = set_flag(f, name, v, &a, err, errlen)))
			return r;
		seen[f - flags] = true;
		snprintf(seen_as[f - flags], sizeof(seen_as[0]), "%s", name);
	}
	for (size_t i = 0; i < NF; i++)
		seen_ptr[i] = seen_as[i];
	if (a.cmd != KP_CMD_HELP &&
	    ((r = check_scope(seen, seen_ptr, &a, err, errlen)) ||
	     (r = check_command(&a, err, errlen))))
		return r;
	*out = a;
	return 0;
}

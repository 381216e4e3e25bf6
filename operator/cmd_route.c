/*
 * posthog-operator route: runs the bucket router (router/router.h) with
 * /metrics, /healthz and /readyz. Flags are a table, each also read from
 * an environment variable; flags win. SIGTERM/SIGINT stop it cleanly (the
 * in-flight messages are acknowledged and their offsets committed); a
 * second signal exits at once.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "pkg/httpserver/httpserver.h"
#include "pkg/log/log.h"
#include "pkg/metrics/metrics.h"
#include "router/router.h"

#define MAX_KAFKA_CONF 64

struct route_flags {
	struct router_options o;
	const char *metrics_addr, *health_addr;
	const char *kafka_conf[MAX_KAFKA_CONF + 1];
	unsigned nconf;
	unsigned max_message_bytes, hold_max_bytes;
	enum log_level level;
	enum log_format format;
	bool help;
	char storage[16384]; /* backs values copied from the environment */
};

/* K_COUNT: a whole number of at least 1 (0 would silently mean the default). */
enum kind { K_STR, K_UINT, K_COUNT, K_BYTES, K_DURATION, K_CONF, K_LEVEL, K_FORMAT, K_BOOL };

struct flag {
	const char *name, *env;
	enum kind kind;
	size_t off;
	const char *help;
};

#define OFF(f) offsetof(struct route_flags, f)

static const struct flag flags[] = {
	{ "kafka-bootstrap-servers", "POSTHOG_ROUTER_KAFKA_BOOTSTRAP_SERVERS", K_STR, OFF(o.bootstrap),
	  "Kafka brokers, host:port,... (required)" },
	{ "kafka-conf", "POSTHOG_ROUTER_KAFKA_CONF", K_CONF, OFF(kafka_conf),
	  "A librdkafka property name=value (security.protocol, sasl.*); repeatable, comma-separated in the variable" },
	{ "source-topic", "POSTHOG_ROUTER_SOURCE_TOPIC", K_STR, OFF(o.source_topic),
	  "Topic capture writes to (default: events_plugin_ingestion)" },
	{ "group", "POSTHOG_ROUTER_GROUP", K_STR, OFF(o.group),
	  "The router's consumer group (default: posthog-router)" },
	{ "bucket-map", "POSTHOG_ROUTER_BUCKET_MAP", K_STR, OFF(o.map_path),
	  "The mounted buckets.json of the <posthog>-buckets ConfigMap (required)" },
	{ "database-url", "DATABASE_URL", K_STR, OFF(o.database_url),
	  "PostHog's Postgres, a libpq URI or key=value string (required; prefer the variable)" },
	{ "fallback-bucket", "POSTHOG_ROUTER_FALLBACK_BUCKET", K_UINT, OFF(o.fallback_bucket),
	  "Bucket for unknown tokens and bad messages (default: 0)" },
	{ "token-refresh", "POSTHOG_ROUTER_TOKEN_REFRESH", K_DURATION, OFF(o.token_refresh_ms),
	  "Period of the full token -> team reload (default: 60s)" },
	{ "lookups-per-second", "POSTHOG_ROUTER_LOOKUPS_PER_SECOND", K_COUNT, OFF(o.lookups_per_sec),
	  "Postgres lookups of unknown tokens per second (default: 10)" },
	{ "producers", "POSTHOG_ROUTER_PRODUCERS", K_COUNT, OFF(o.producers),
	  "Idempotent Kafka producers, each with its own connections; bucket b uses producer b mod N (1..16, default: 4)" },
	{ "max-message-bytes", "POSTHOG_ROUTER_MAX_MESSAGE_BYTES", K_BYTES, OFF(max_message_bytes),
	  "Larger messages go to the fallback bucket unparsed (default: 1048576)" },
	{ "map-check-interval", "POSTHOG_ROUTER_MAP_CHECK_INTERVAL", K_DURATION, OFF(o.map_check_ms),
	  "How often the bucket map file is checked for changes (default: 1s)" },
	{ "hold-check-interval", "POSTHOG_ROUTER_HOLD_CHECK_INTERVAL", K_DURATION, OFF(o.hold_check_ms),
	  "How often held teams' old buckets are checked (default: 1s)" },
	{ "hold-max", "POSTHOG_ROUTER_HOLD_MAX", K_DURATION, OFF(o.hold_max_ms),
	  "Longest a moved team is held (default: 10m)" },
	{ "hold-max-bytes", "POSTHOG_ROUTER_HOLD_MAX_BYTES", K_BYTES, OFF(hold_max_bytes),
	  "Held bytes past which consumption pauses (default: 16777216)" },
	{ "metrics-bind-address", "POSTHOG_ROUTER_METRICS_BIND_ADDRESS", K_STR, OFF(metrics_addr),
	  "Address of /metrics; \"0\" disables (default: :8080)" },
	{ "health-probe-bind-address", "POSTHOG_ROUTER_HEALTH_PROBE_BIND_ADDRESS", K_STR, OFF(health_addr),
	  "Address of /healthz and /readyz; \"0\" disables (default: :8081)" },
	{ "log-level", "POSTHOG_ROUTER_LOG_LEVEL", K_LEVEL, OFF(level),
	  "debug, info, warn or error (default: info)" },
	{ "log-format", "POSTHOG_ROUTER_LOG_FORMAT", K_FORMAT, OFF(format),
	  "json or text (default: json)" },
	{ "help", NULL, K_BOOL, OFF(help), "Print this help and exit" },
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: posthog-operator route [flags]\n\n"
		"Routes capture's events to each team's bucket topic (docs/router.md).\n\n"
		"Flags (each also read from the variable shown):\n");
	for (i = 0; i < NFLAGS; i++)
		fprintf(out, "  --%-28s %s%s%s\n      %s\n", flags[i].name,
			flags[i].env ? "$" : "", flags[i].env ? flags[i].env : "", "",
			flags[i].help);
}

static int bad(char *err, size_t n, const struct flag *fl, const char *v,
	       const char *want)
{
	snprintf(err, n, "invalid value \"%s\" for --%s%s%s: want %s", v, fl->name,
		 fl->env ? " / $" : "", fl->env ? fl->env : "", want);
	return -EINVAL;
}

static bool parse_uint(const char *v, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long x;

	if (!*v || *v == '-')
		return false;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x > max)
		return false;
	*out = (unsigned)x;
	return true;
}

/* "15s", "500ms", "2m", "1h" or bare seconds. */
static bool parse_duration(const char *v, unsigned *out)
{
	char *end;
	double d, mult = 1000;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || d < 0 || !isfinite(d))
		return false;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (!strcmp(end, "h"))
		mult = 3600000;
	else if (*end && strcmp(end, "s"))
		return false;
	if (d * mult > 86400000.0 || d * mult < 1)
		return false;
	*out = (unsigned)(d * mult);
	return true;
}

static int add_conf(struct route_flags *f, char *v, const struct flag *fl,
		    char *err, size_t n, bool split)
{
	char *p = v, *comma;

	do {
		comma = split ? strchr(p, ',') : NULL;
		if (comma)
			*comma = '\0';
		if (!strchr(p, '=') || *p == '=')
			return bad(err, n, fl, p, "name=value");
		if (f->nconf == MAX_KAFKA_CONF)
			return bad(err, n, fl, p, "at most 64 properties");
		f->kafka_conf[f->nconf++] = p;
		p = comma ? comma + 1 : NULL;
	} while (p);
	return 0;
}

static int set(struct route_flags *f, const struct flag *fl, char *v,
	       char *err, size_t n, bool from_env)
{
	void *dst = (char *)f + fl->off;

	switch (fl->kind) {
	case K_STR:
		*(const char **)dst = v;
		return 0;
	case K_UINT:
		return parse_uint(v, 1000000, dst) ? 0 : bad(err, n, fl, v, "a number");
	case K_COUNT:
		return parse_uint(v, 1000000, dst) && *(unsigned *)dst > 0 ? 0 :
		       bad(err, n, fl, v, "a number of at least 1");
	case K_BYTES:
		return parse_uint(v, 1u << 30, dst) && *(unsigned *)dst > 0 ? 0 :
		       bad(err, n, fl, v, "a byte count in 1..1073741824");
	case K_DURATION:
		return parse_duration(v, dst) ? 0 :
		       bad(err, n, fl, v, "a duration such as 500ms, 15s, 2m, 1h");
	case K_CONF:
		return add_conf(f, v, fl, err, n, from_env);
	case K_LEVEL:
		return log_parse_level(v, dst) == 0 ? 0 :
		       bad(err, n, fl, v, "debug, info, warn or error");
	case K_FORMAT:
		return log_parse_format(v, dst) == 0 ? 0 : bad(err, n, fl, v, "json or text");
	case K_BOOL:
		*(bool *)dst = true;
		return 0;
	}
	return -EINVAL;
}

static const struct flag *lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++)
		if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len))
			return &flags[i];
	return NULL;
}

/* Environment first, then argv (argv[0] is "route"). Environment values
 * are copied into storage so that splitting them does not touch environ. */
static int parse(int argc, char **argv, struct route_flags *f, char *storage,
		 size_t room, char *err, size_t n)
{
	size_t i, used = 0;
	int a, rc;

	for (i = 0; i < NFLAGS; i++) {
		const char *e = flags[i].env ? getenv(flags[i].env) : NULL;
		size_t len;

		if (!e || !*e)
			continue;
		len = strlen(e) + 1;
		if (used + len > room) {
			snprintf(err, n, "$%s: too long", flags[i].env);
			return -EINVAL;
		}
		memcpy(storage + used, e, len);
		rc = set(f, &flags[i], storage + used, err, n, true);
		used += len;
		if (rc)
			return rc;
	}
	for (a = 1; a < argc; a++) {
		char *arg = argv[a], *eq;
		const struct flag *fl;

		if (strncmp(arg, "--", 2)) {
			if (!strcmp(arg, "-h"))
				return set(f, lookup("help", 4), arg, err, n, false);
			snprintf(err, n, "unexpected argument \"%s\"", arg);
			return -EINVAL;
		}
		arg += 2;
		eq = strchr(arg, '=');
		fl = lookup(arg, eq ? (size_t)(eq - arg) : strlen(arg));
		if (!fl) {
			snprintf(err, n, "unknown flag --%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
			return -EINVAL;
		}
		if (fl->kind == K_BOOL && !eq) {
			set(f, fl, arg, err, n, false);
			continue;
		}
		if (!eq && a + 1 >= argc) {
			snprintf(err, n, "--%s needs a value", fl->name);
			return -EINVAL;
		}
		rc = set(f, fl, eq ? eq + 1 : argv[++a], err, n, false);
		if (rc)
			return rc;
	}
	return 0;
}

static int serve_metrics(void *ud, struct buf *body, const char **ctype)
{
	*ctype = "text/plain; version=0.0.4; charset=utf-8";
	return metrics_render(ud, body) == 0 ? 200 : 500;
}

static int serve_healthz(void *ud, struct buf *body, const char **ctype)
{
	bool ok = router_alive(ud);

	buf_puts(body, ok ? "ok\n" : "routing loop stuck\n");
	return ok ? 200 : 500;
}

static int serve_readyz(void *ud, struct buf *body, const char **ctype)
{
	bool ok = router_ready(ud);

	buf_puts(body, ok ? "ok\n" : "not routing yet (bucket map, tokens or Kafka)\n");
	return ok ? 200 : 503;
}

struct sigctx {
	struct router *r;
	struct log *log;
};

static void *signal_thread(void *arg)
{
	struct sigctx *sc = arg;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigwait(&set, &sig) != 0 || sig == SIGUSR1)
		return NULL;
	log_info(sc->log, "received %s, finishing in-flight messages",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT");
	router_stop(sc->r);
	if (sigwait(&set, &sig) != 0 || sig == SIGUSR1)
		return NULL;
	log_error(sc->log, "second signal received; exiting without waiting");
	_exit(1);
}

static int start_http(const char *addr, struct httpserver_route *routes,
		      size_t nroutes, struct log *log, struct httpserver **out)
{
	struct httpserver_options o = { .addr = addr, .log = log };
	int rc;

	if (!strcmp(addr, "0"))
		return 0;
	memcpy(o.routes, routes, nroutes * sizeof(*routes));
	rc = httpserver_start(&o, out);
	if (rc)
		log_error(log, "route: cannot serve on %s: %s", addr, strerror(-rc));
	else
		log_info(log, "route: serving %s%s on port %d", routes[0].path,
			 nroutes > 1 ? " and /readyz" : "", httpserver_port(*out));
	return rc;
}

static int run(struct route_flags *f, struct log *log)
{
	struct metrics *m = NULL;
	struct router *r = NULL;
	struct httpserver *hm = NULL, *hh = NULL;
	struct sigctx sc = { NULL, log };
	pthread_t th;
	char err[512];
	int rc;

	rc = metrics_new(&m);
	if (rc == 0)
		rc = metrics_add_process_collector(m);
	if (rc < 0) {
		log_error(log, "cannot set up the metrics registry: %s", strerror(-rc));
		metrics_free(m);
		return 1;
	}
	f->o.kafka_conf = f->kafka_conf;
	f->o.max_message_bytes = f->max_message_bytes;
	f->o.hold_max_bytes = f->hold_max_bytes;
	rc = router_new(&f->o, m, log, &r, err, sizeof(err));
	if (rc) {
		log_error(log, "route: %s", err);
		metrics_free(m);
		return 2;
	}
	rc = start_http(f->metrics_addr, (struct httpserver_route[]){
			{ "/metrics", serve_metrics, m } }, 1, log, &hm);
	if (!rc)
		rc = start_http(f->health_addr, (struct httpserver_route[]){
				{ "/healthz", serve_healthz, r },
				{ "/readyz", serve_readyz, r } }, 2, log, &hh);
	if (!rc) {
		sc.r = r;
		if (pthread_create(&th, NULL, signal_thread, &sc))
			abort();
		rc = router_run(r);
		pthread_kill(th, SIGUSR1);
		pthread_join(th, NULL);
	}
	httpserver_stop(hh);
	httpserver_stop(hm);
	router_free(r);
	metrics_free(m);
	return rc ? 1 : 0;
}

int cmd_route(int argc, char **argv)
{
	struct route_flags f = {
		.metrics_addr = ":8080", .health_addr = ":8081",
		.level = LOG_INFO, .format = LOG_FORMAT_JSON,
	};
	struct log *log;
	char err[512];
	sigset_t set;
	int rc;

	if (parse(argc, argv, &f, f.storage, sizeof(f.storage), err, sizeof(err))) {
		fprintf(stderr, "posthog-operator route: %s\n", err);
		return 2;
	}
	if (f.help) {
		usage(stdout);
		return 0;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = log_new(STDERR_FILENO, f.level, f.format, &log);
	if (rc < 0) {
		fprintf(stderr, "posthog-operator route: cannot set up logging: %s\n", strerror(-rc));
		return 1;
	}
	rc = run(&f, log);
	log_free(log);
	return rc;
}

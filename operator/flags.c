/*
 * Flags are a table: name, environment variable, kind and destination.
 * Parsing walks the environment first and argv second, so a flag always
 * overrides its variable. Values are validated here, once, and a bad one
 * produces a single line naming the flag.
 */
#include "flags.h"

#include "pkg/clickhouse/clickhouse.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { K_STR, K_NS, K_BOOL, K_UINT, K_DOUBLE, K_INT, K_LEVEL, K_FORMAT,
	    K_DURATION, K_ACCESS, K_CONNECT };

struct flag {
	const char *name;
	const char *env;
	enum kind kind;
	size_t offset;
	const char *help;
};

#define OFF(field) offsetof(struct op_flags, field)

static const struct flag flags[] = {
	{ "kubeconfig", "KUBECONFIG", K_STR, OFF(kubeconfig),
	  "Path to a kubeconfig (default: in-cluster, then ~/.kube/config)" },
	{ "context", "POSTHOG_OPERATOR_CONTEXT", K_STR, OFF(context),
	  "Kubeconfig context to use (default: current-context)" },
	{ "namespace", "POSTHOG_OPERATOR_NAMESPACE", K_NS, OFF(namespaces),
	  "Namespace to watch; repeatable, comma-separated in the variable (default: all)" },
	{ "leader-elect", "POSTHOG_OPERATOR_LEADER_ELECT", K_BOOL, OFF(leader_elect),
	  "Elect a leader with a Lease so only one replica reconciles" },
	{ "leader-election-namespace", "POSTHOG_OPERATOR_LEADER_ELECTION_NAMESPACE", K_STR,
	  OFF(leader_election_namespace), "Namespace of the Lease (default: the pod's or kubeconfig's)" },
	{ "leader-election-id", "POSTHOG_OPERATOR_LEADER_ELECTION_ID", K_STR,
	  OFF(leader_election_id), "Name of the Lease (default: posthog-operator-leader)" },
	{ "leader-election-lease-duration", "POSTHOG_OPERATOR_LEADER_ELECTION_LEASE_DURATION",
	  K_DURATION, OFF(lease_duration_ms), "Lease duration (default: 15s)" },
	{ "leader-election-renew-deadline", "POSTHOG_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE",
	  K_DURATION, OFF(renew_deadline_ms), "Renew deadline (default: 10s)" },
	{ "leader-election-retry-period", "POSTHOG_OPERATOR_LEADER_ELECTION_RETRY_PERIOD",
	  K_DURATION, OFF(retry_period_ms), "Retry period (default: 2s)" },
	{ "graceful-shutdown-timeout", "POSTHOG_OPERATOR_GRACEFUL_SHUTDOWN_TIMEOUT", K_DURATION,
	  OFF(shutdown_timeout_ms), "Time in-flight reconciles get on shutdown (default: 30s)" },
	{ "metrics-bind-address", "POSTHOG_OPERATOR_METRICS_BIND_ADDRESS", K_STR,
	  OFF(metrics_addr), "Address of /metrics; \"0\" disables (default: :8080)" },
	{ "health-probe-bind-address", "POSTHOG_OPERATOR_HEALTH_PROBE_BIND_ADDRESS", K_STR,
	  OFF(health_addr), "Address of /healthz and /readyz; \"0\" disables (default: :8081)" },
	{ "workers", "POSTHOG_OPERATOR_WORKERS", K_UINT, OFF(workers),
	  "Concurrent reconciles per controller, 1..64 (default: 2)" },
	{ "qps", "POSTHOG_OPERATOR_QPS", K_DOUBLE, OFF(qps),
	  "Client-side request rate to the API server; -1 disables (default: 20)" },
	{ "burst", "POSTHOG_OPERATOR_BURST", K_INT, OFF(burst),
	  "Client-side request burst (default: 30)" },
	{ "log-level", "POSTHOG_OPERATOR_LOG_LEVEL", K_LEVEL, OFF(log_level),
	  "debug, info, warn or error (default: info)" },
	{ "log-format", "POSTHOG_OPERATOR_LOG_FORMAT", K_FORMAT, OFF(log_format),
	  "json or text (default: json)" },
	{ "sync-period", "POSTHOG_OPERATOR_SYNC_PERIOD", K_DURATION, OFF(sync_period_ms),
	  "How often every PostHog is reconciled again from the cache (default: 10h)" },
	{ "lag-poll-interval", "POSTHOG_OPERATOR_LAG_POLL_INTERVAL", K_DURATION, OFF(lag_poll_ms),
	  "How often the consumer-group lag of a bucket autoscaled on lag is read (default: 15s)" },
	{ "clickhouse-access", "POSTHOG_OPERATOR_CLICKHOUSE_ACCESS", K_ACCESS,
	  OFF(clickhouse_access), "auto, dns or proxy (default: auto: dns in a cluster or with --connect-to, else proxy)" },
	{ "connect-to", "POSTHOG_OPERATOR_CONNECT_TO", K_CONNECT, OFF(connect_to),
	  "HOST:PORT:CONNECT-HOST:CONNECT-PORT: send ClickHouse requests, the lag autoscaler's Kafka connections and the health gates' ZooKeeper mntr and Kafka metadata requests for HOST:PORT there, as curl's --connect-to; repeatable, comma-separated in the variable" },
	{ "health-gates", "POSTHOG_OPERATOR_HEALTH_GATES", K_STR, OFF(health_gates),
	  "Restarts that wait for their system's own health check beyond Ready: all, none, or a list of zookeeper,kafka,clickhouse (default: all)" },
	{ "restart-timeout", "POSTHOG_OPERATOR_RESTART_TIMEOUT", K_DURATION, OFF(restart_timeout_ms),
	  "Time a restarted stateful pod has to pass its health gate before the plan halts (default: 10m)" },
	{ "router-image", "POSTHOG_OPERATOR_ROUTER_IMAGE", K_STR, OFF(router_image),
	  "Image of the bucket router pods, normally the operator's own "
	  "(default: ghcr.io/posthog-operator/posthog-operator:<version>)" },
	{ "version", NULL, K_BOOL, OFF(version), "Print the version and exit" },
	{ "help", NULL, K_BOOL, OFF(help), "Print this help and exit" },
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

void op_flags_usage(FILE *out)
{
	fprintf(out,
		"Usage: posthog-operator [run] [flags]\n"
		"       posthog-operator render [flags]   (see: render --help)\n"
		"       posthog-operator route [flags]    (see: route --help)\n"
		"       posthog-operator backup-agent ACTION [flags]  (see: backup-agent --help)\n"
		"       posthog-operator version\n"
		"       posthog-operator versions         (the supported PostHog versions, JSON)\n\nFlags (each also read from the variable shown):\n");
	for (size_t i = 0; i < NFLAGS; i++)
		fprintf(out, "  --%-32s %s%s%s%s\n", flags[i].name, flags[i].help,
			flags[i].env ? " [$" : "", flags[i].env ? flags[i].env : "",
			flags[i].env ? "]" : "");
}

static int bad(char *err, size_t n, const struct flag *fl, const char *v,
	       const char *want)
{
	snprintf(err, n, "invalid value \"%s\" for --%s%s%s: want %s", v, fl->name,
		 fl->env ? " / $" : "", fl->env ? fl->env : "", want);
	return -EINVAL;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "1", "true", "yes", "on", NULL };
	static const char *no[] = { "0", "false", "no", "off", "", NULL };
	for (size_t i = 0; yes[i]; i++)
		if (!strcasecmp(v, yes[i]))
			return *out = true, true;
	for (size_t i = 0; no[i]; i++)
		if (!strcasecmp(v, no[i]))
			return *out = false, true;
	return false;
}

/* "15s", "500ms", "2m" or bare seconds. */
static bool parse_duration(const char *v, unsigned *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || d < 0 || !isfinite(d))
		return false;
	double mult = 1000;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (*end && strcmp(end, "s"))
		return false;
	if (d * mult > 86400000.0)
		return false;
	*out = (unsigned)(d * mult);
	return true;
}

/* Appends the comma-separated pieces of v to the NULL-terminated list
 * (*count entries, room for max), copying each once into f->storage. */
static int add_list(struct op_flags *f, const char *v, size_t *used, const char **list,
		    unsigned *count, unsigned max, char *err, size_t n,
		    const struct flag *fl, const char *want)
{
	const char *p = v;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len) {
			if (*count >= max || *used + len + 1 > sizeof(f->storage))
				return bad(err, n, fl, v, want);
			char *dst = f->storage + *used;
			memcpy(dst, p, len);
			dst[len] = '\0';
			*used += len + 1;
			list[(*count)++] = dst;
			list[*count] = NULL;
		}
		p += len + (comma ? 1 : 0);
	}
	return 0;
}

static int add_connect_to(struct op_flags *f, const char *v, size_t *used,
			  char *err, size_t n, const struct flag *fl)
{
	unsigned first = f->nconnect_to;
	int rc = add_list(f, v, used, f->connect_to, &f->nconnect_to, OP_MAX_CONNECT_TO,
			  err, n, fl, "at most 16 mappings");
	char why[160];
	for (unsigned i = first; rc == 0 && i < f->nconnect_to; i++)
		if (ch_connect_to_check(f->connect_to[i], why, sizeof(why)) < 0) {
			snprintf(err, n, "invalid value \"%s\" for --%s%s%s: %s", f->connect_to[i],
				 fl->name, fl->env ? " / $" : "", fl->env ? fl->env : "", why);
			rc = -EINVAL;
		}
	return rc;
}

static int set(struct op_flags *f, const struct flag *fl, const char *v,
	       size_t *used, char *err, size_t n)
{
	void *dst = (char *)f + fl->offset;
	char *end;
	switch (fl->kind) {
	case K_STR:
		*(const char **)dst = v;
		return 0;
	case K_NS:
		return add_list(f, v, used, f->namespaces, &f->nnamespaces, OP_MAX_NAMESPACES,
				err, n, fl, "at most 64 namespaces");
	case K_CONNECT:
		return add_connect_to(f, v, used, err, n, fl);
	case K_BOOL:
		return parse_bool(v, dst) ? 0 : bad(err, n, fl, v, "true or false");
	case K_UINT: {
		errno = 0;
		unsigned long u = strtoul(v, &end, 10);
		if (errno || end == v || *end || u < 1 || u > 64 || *v == '-')
			return bad(err, n, fl, v, "an integer from 1 to 64");
		*(unsigned *)dst = (unsigned)u;
		return 0;
	}
	case K_INT: {
		errno = 0;
		long l = strtol(v, &end, 10);
		if (errno || end == v || *end || l < 1 || l > 100000)
			return bad(err, n, fl, v, "a positive integer");
		*(int *)dst = (int)l;
		return 0;
	}
	case K_DOUBLE: {
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(d) || (d <= 0 && d != -1))
			return bad(err, n, fl, v, "a positive number, or -1 to disable");
		*(double *)dst = d;
		return 0;
	}
	case K_LEVEL:
		return log_parse_level(v, dst) == 0 ? 0
			: bad(err, n, fl, v, "debug, info, warn or error");
	case K_FORMAT:
		return log_parse_format(v, dst) == 0 ? 0 : bad(err, n, fl, v, "json or text");
	case K_DURATION:
		return parse_duration(v, dst) ? 0
			: bad(err, n, fl, v, "a duration such as 15s or 500ms");
	case K_ACCESS:
		if (strcmp(v, "auto") && strcmp(v, "dns") && strcmp(v, "proxy"))
			return bad(err, n, fl, v, "auto, dns or proxy");
		*(const char **)dst = v;
		return 0;
	}
	return -EINVAL;
}

static const struct flag *lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < NFLAGS; i++)
		if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len))
			return &flags[i];
	return NULL;
}

static void defaults(struct op_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->leader_election_id = "posthog-operator-leader";
	f->metrics_addr = ":8080";
	f->health_addr = ":8081";
	f->workers = 2;
	f->qps = 20;
	f->burst = 30;
	f->log_level = LOG_INFO;
	f->log_format = LOG_FORMAT_JSON;
	f->clickhouse_access = "auto";
}

static int parse_argv(int argc, char **argv, struct op_flags *f, size_t *used,
		      char *err, size_t n)
{
	bool ns_from_flags = false, connect_from_flags = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h"))
			a = "--help";
		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, n, "unexpected argument \"%s\": flags start with --; see --help", a);
			return -EINVAL;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct flag *fl = lookup(name, len);
		if (!fl) {
			snprintf(err, n, "unknown flag --%.*s; see --help", (int)len, name);
			return -EINVAL;
		}
		const char *v = eq ? eq + 1 : NULL;
		if (!v && fl->kind == K_BOOL)
			v = "true";
		if (!v) {
			if (i + 1 >= argc) {
				snprintf(err, n, "flag --%s needs a value", fl->name);
				return -EINVAL;
			}
			v = argv[++i];
		}
		if (fl->kind == K_NS && !ns_from_flags) {
			/* flags replace the variable's list, not extend it */
			ns_from_flags = true;
			f->nnamespaces = 0;
			f->namespaces[0] = NULL;
		}
		if (fl->kind == K_CONNECT && !connect_from_flags) {
			connect_from_flags = true;
			f->nconnect_to = 0;
			f->connect_to[0] = NULL;
		}
		int rc = set(f, fl, v, used, err, n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int op_flags_parse(int argc, char **argv, struct op_flags *f, char *err,
		   size_t errlen)
{
	defaults(f);
	size_t used = 0;
	for (size_t i = 0; i < NFLAGS; i++) {
		const char *v = flags[i].env ? getenv(flags[i].env) : NULL;
		if (!v || !*v)
			continue;
		int rc = set(f, &flags[i], v, &used, err, errlen);
		if (rc < 0)
			return rc;
	}
	int rc = parse_argv(argc, argv, f, &used, err, errlen);
	if (rc < 0)
		return rc;
	unsigned lease = f->lease_duration_ms ? f->lease_duration_ms : 15000;
	unsigned renew = f->renew_deadline_ms ? f->renew_deadline_ms : 10000;
	unsigned retry = f->retry_period_ms ? f->retry_period_ms : 2000;
	if (f->leader_elect && (renew >= lease || renew * 10 <= retry * 12)) {
		snprintf(err, errlen, "--leader-election-renew-deadline must be below --leader-election-lease-duration and above 1.2 x --leader-election-retry-period");
		return -EINVAL;
	}
	return 0;
}

/* ---- connection ---- */

static int load_config(const struct op_flags *f, struct log *log,
		       struct kube_config **cfg)
{
	struct kube_config_options co = { .kubeconfig = f->kubeconfig,
					  .context = f->context, .log = log };
	int rc = kube_config_load(&co, cfg);
	if (rc == -ENOENT && f->kubeconfig && f->kubeconfig[0])
		log_error(log, "no kubeconfig file found at %s: fix --kubeconfig (or $KUBECONFIG)",
			  f->kubeconfig);
	else if (rc == -ENOENT)
		log_error(log, "no Kubernetes configuration found: set --kubeconfig (or $KUBECONFIG), or run in a cluster");
	else if (rc < 0)
		log_error(log, "cannot use the kubeconfig%s%s: fix the file or pick another with --kubeconfig / --context",
			  f->kubeconfig ? " " : "", f->kubeconfig ? f->kubeconfig : "");
	return rc;
}

/*
 * Checks the server before anything else starts: the client retries for
 * up to 30 s, but an unreachable server at start-up should fail in
 * seconds. The check goes through the client that carries the traffic
 * afterwards, so the informers' first requests reuse its connection and
 * resume its TLS session instead of each doing a full handshake
 * (docs/kube-client.md, "Connections").
 */
static int probe(struct kube_client *c, struct log *log)
{
	const char *server = kube_config_server(kube_client_config(c));
	struct buf out;
	buf_init(&out, 1 << 16);
	int code = 0;
	int rc = kube_get_bounded(c, "/version", 5000, 3000, &out, &code);
	if (rc < 0)
		log_error(log, "API server %s unreachable (%s): check --kubeconfig / --context and that the server is up",
			  server, kube_strerror(rc));
	else if (code == 401 || code == 403)
		log_error(log, "API server %s refused our credentials (HTTP %d): check the kubeconfig user or service account",
			  server, code);
	else if (code / 100 != 2)
		log_error(log, "API server %s answered GET /version with HTTP %d", server, code);
	if (rc == 0 && code / 100 != 2)
		rc = code == 401 ? -EACCES : code == 403 ? -EPERM : -EIO;
	buf_free(&out);
	return rc;
}

int op_observe(const struct op_flags *f, struct log **log, struct metrics **metrics)
{
	struct log *l = NULL;
	struct metrics *m = NULL;
	int r = log_new(STDERR_FILENO, f->log_level, f->log_format, &l);

	if (r < 0) {
		fprintf(stderr, "posthog-operator: cannot set up logging: %s\n", strerror(-r));
		return r;
	}
	r = metrics_new(&m);
	if (r == 0)
		r = metrics_add_process_collector(m);
	if (r < 0) {
		log_error(l, "cannot set up the metrics registry: %s", strerror(-r));
		metrics_free(m);
		log_free(l);
		return r;
	}
	*log = l;
	*metrics = m;
	return 0;
}

int op_connect(const struct op_flags *f, struct log *log,
	       struct metrics *metrics, struct kube_client **out)
{
	struct kube_config *cfg;
	int rc = load_config(f, log, &cfg);
	if (rc < 0)
		return rc;
	struct kube_client_options o = {
		.qps = f->qps, .burst = f->burst, .log = log,
		.on_request = manager_rest_client_metrics,
		.on_request_userdata = metrics,
	};
	struct kube_client *c;
	rc = kube_client_new(cfg, &o, &c);
	if (rc < 0)
		return rc;
	rc = probe(c, log);
	if (rc < 0) {
		kube_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* A replica that lost its Lease exits at once: a reconcile still in
 * flight (waiting out an API server restart, say) would otherwise write
 * after the next leader has started (found by hack/soak). */
static void exit_on_leader_lost(void *userdata)
{
	log_error(userdata, "lost the leader election Lease; exiting at once so a fresh replica can campaign");
	_exit(1);
}

void op_manager_options(const struct op_flags *f, struct kube_client *c,
			struct log *log, struct metrics *metrics,
			struct manager_options *out)
{
	const char *le_ns = f->leader_election_namespace;
	if (!le_ns || !*le_ns)
		le_ns = kube_config_namespace(kube_client_config(c));
	*out = (struct manager_options){
		.client = c, .log = log, .metrics = metrics,
		.metrics_addr = f->metrics_addr, .health_addr = f->health_addr,
		.leader_elect = f->leader_elect,
		.leader_election_namespace = le_ns,
		.leader_election_id = f->leader_election_id,
		.lease_duration_ms = f->lease_duration_ms,
		.renew_deadline_ms = f->renew_deadline_ms,
		.retry_period_ms = f->retry_period_ms,
		.shutdown_timeout_ms = f->shutdown_timeout_ms,
		/* docs/performance.md: what trimming the heap buys */
		.malloc_trim_ms = 10000,
		.on_leader_lost = exit_on_leader_lost,
		.on_leader_lost_userdata = log,
	};
}

/* ---- signals ---- */

void op_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

struct sigctx {
	struct manager *m;
	struct log *log;
	unsigned grace_ms;
};

/* SIGUSR1 comes from op_serve() itself: the manager returned, so the
 * thread ends. Signals stay blocked in every thread, so sigwait() needs no
 * handler and no global state. */
static void *signal_thread(void *arg)
{
	struct sigctx *sc = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	int sig = 0;
	if (sigwait(&set, &sig) != 0 || sig == SIGUSR1)
		return NULL;
	log_info(sc->log, "received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	manager_stop(sc->m);
	struct timespec ts = { .tv_sec = sc->grace_ms / 1000 + 5,
			       .tv_nsec = (long)(sc->grace_ms % 1000) * 1000000 };
	sig = sigtimedwait(&set, NULL, &ts);
	if (sig == SIGUSR1)
		return NULL;
	log_error(sc->log, "%s; exiting without waiting",
		  sig < 0 ? "shutdown took too long" : "second signal received");
	_exit(1);
}

int op_serve(struct manager *m, const struct op_flags *f, struct log *log)
{
	struct sigctx sc = { m, log, f->shutdown_timeout_ms ? f->shutdown_timeout_ms : 30000 };
	pthread_t th;
	if (pthread_create(&th, NULL, signal_thread, &sc))
		abort();
	int rc = manager_run(m);
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	if (rc == 0)
		return 0;
	if (rc == -ENOLCK)
		log_error(log, "lost the leader election Lease; exiting so a fresh replica can campaign");
	else if (rc == -EADDRINUSE || rc == -EINVAL)
		log_error(log, "cannot serve on --metrics-bind-address / --health-probe-bind-address: pick free addresses");
	else
		log_error(log, "manager failed: %s", kube_strerror(rc));
	return 1;
}

/*
 * kubectl-posthog: the kubectl plugin's pure parts (no I/O), so that unit
 * tests reach them: argument parsing, the documents each subcommand prints
 * and their text form, the bucket move preview, the upgrade plan, Secret
 * redaction and the tar.gz writer. main.c does the API calls and wires
 * these together.
 *
 * Every document is a cJSON tree built from the objects the API server
 * sent; fields the plugin does not know are carried over, not dropped, so
 * status fields newer than the plugin (status.upgrade, status.reshard)
 * still show.
 */
#ifndef PHO_PLUGIN_H
#define PHO_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"

/* ---- arguments ---------------------------------------------------------- */

enum kp_cmd {
	KP_CMD_NONE,
	KP_CMD_HELP,
	KP_CMD_VERSION,
	KP_CMD_STATUS,
	KP_CMD_BUCKETS,
	KP_CMD_UPGRADE,
	KP_CMD_BACKUP,
	KP_CMD_BACKUPS,
	KP_CMD_RESTORE,
	KP_CMD_RESHARD,
	KP_CMD_REPORT,
};

enum kp_color { KP_COLOR_AUTO, KP_COLOR_ALWAYS, KP_COLOR_NEVER };

/* Most teams one preview or listing walks. */
#define KP_MAX_TEAMS 10000000
/* Most Events `status` shows. */
#define KP_MAX_EVENTS 1000

/* What the command line asked for. Strings are borrowed from argv. */
struct kp_args {
	enum kp_cmd cmd;
	const char *name;        /* the PostHog (restore: too) */
	const char *kubeconfig;  /* --kubeconfig; NULL = $KUBECONFIG, ~/.kube/config */
	const char *context;     /* --context; NULL = current-context */
	const char *ns;          /* -n/--namespace; NULL = the context's */
	bool json;               /* -o json */
	enum kp_color color;     /* --color */
	unsigned events;         /* status --events N (default 10) */
	bool has_team;
	int64_t team;            /* buckets --team N */
	unsigned count;          /* buckets --count K; 0 = no preview */
	int64_t teams_first, teams_last; /* buckets --teams A-B (default 1-10000) */
	const char *to;          /* upgrade --to */
	bool dry_run;            /* upgrade --dry-run */
	const char *backup;      /* restore --backup */
	const char *object_name; /* backup, restore --name */
	const char *s3_endpoint, *s3_bucket, *s3_prefix, *s3_region, *s3_secret;
	bool replay_kafka;       /* restore --replay-kafka */
	const char *file;        /* report -f/--file */
	const char *operator_ns; /* report --operator-namespace */
	const char *operator_log;/* report --operator-log FILE */
	unsigned log_lines;      /* report --log-lines (default 10000) */
};

/*
 * Parses argv[1..argc-1] (argv[0] is the program). Flags may come before
 * or after the subcommand, as `--flag value` or `--flag=value`; `-n NS`,
 * `-o json`. Returns 0, or -EINVAL with a one-line message naming the flag
 * or argument in err.
 */
int kp_parse_args(int argc, char *const *argv, struct kp_args *out,
		  char *err, size_t errlen);

/* The usage text. Static. */
const char *kp_usage(void);

/* ---- status ------------------------------------------------------------- */

/*
 * The status document of the PostHog ph: name, namespace, phase, version,
 * ready, conditions, components, buckets (each bucket's status with
 * "lag" when the status has one), upgrade and reshard (status.upgrade,
 * status.reshard as the operator wrote them, or null), backups (the newest
 * few of the given backup resources belonging to ph, or null when the
 * cluster has no backup resources) and the last `events` Events of
 * events_list (a core/v1 EventList, may be NULL), oldest first. Borrows
 * everything; caller frees the result.
 */
cJSON *kp_status_doc(const cJSON *ph, const cJSON *events_list,
		     const cJSON *backups_list, unsigned events);

/* The text form of a kp_status_doc(), ANSI colours when color. */
int kp_status_text(const cJSON *doc, bool color, struct buf *out);

/* ---- buckets ------------------------------------------------------------ */

struct kp_buckets_options {
	bool has_team;
	int64_t team;
	unsigned count;           /* 0 = no preview */
	int64_t teams_first, teams_last;
	size_t max_listed;        /* moved teams listed; the rest are counted */
};

/*
 * The team -> bucket document of ph: the operator's own map (ph_bucket_map:
 * count, algorithm, pins, topics), readiness per bucket from the status,
 * how many teams of the range land in each bucket, the bucket of --team,
 * and with count a preview of the move to count buckets: which teams of the
 * range move (from, to), how many, and the share. Returns 0, or -EINVAL
 * with err naming the field or flag. Caller frees *out.
 */
int kp_buckets_doc(const cJSON *ph, const struct kp_buckets_options *o,
		   cJSON **out, char *err, size_t errlen);
int kp_buckets_text(const cJSON *doc, bool color, struct buf *out);

/* ---- upgrade plan ------------------------------------------------------- */

/*
 * The plan an upgrade of ph to version `to` runs, in order: ZooKeeper
 * followers then the leader, Kafka brokers, ClickHouse replicas shard by
 * shard, the migrate Job, then the plugin-servers bucket by bucket. Each
 * step names the object, the pod or Deployment, and the image before and
 * after (objects from the operator's own builders, ph_build, for the
 * current and the target spec). Returns 0, or -EINVAL with err (a version
 * outside the matrix, a spec that does not validate). Caller frees *out.
 */
int kp_upgrade_plan(const cJSON *ph, const char *to, cJSON **out,
		    char *err, size_t errlen);
int kp_upgrade_text(const cJSON *plan, bool color, struct buf *out);

/* ---- backups ------------------------------------------------------------ */

/* Whether the backup resource obj belongs to the PostHog named name. */
bool kp_backup_matches(const cJSON *obj, const char *name);
/* The list document of the backups of name in list (a List, may be NULL). */
cJSON *kp_backups_doc(const cJSON *list, const char *name);
int kp_backups_text(const cJSON *doc, bool color, struct buf *out);
/*
 * spec.store for a new backup or restore: from the --s3-* flags when
 * --s3-endpoint is given (then --s3-bucket and --s3-secret are required),
 * else a copy of the store of the newest PostHogBackupSchedule or
 * PostHogBackup of the PostHog named name in the lists (may be NULL).
 * Returns 0, or -EINVAL / -ENOENT with err naming the flag. Caller frees.
 */
int kp_store(const struct kp_args *a, const cJSON *schedules, const cJSON *backups,
	     cJSON **out, char *err, size_t errlen);
/* A new PostHogBackup of the PostHog ph named backup_name (NULL: "<ph>-
 * <UTC time>"), with store (borrowed). Caller frees. */
cJSON *kp_backup_object(const cJSON *ph, const char *backup_name, const cJSON *store,
			time_t now);
/* A new PostHogRestore of backup into the PostHog ph. Caller frees. */
cJSON *kp_restore_object(const cJSON *ph, const char *name, const char *backup,
			 const cJSON *store, bool replay_kafka, time_t now);

/* ---- reshard ------------------------------------------------------------ */

cJSON *kp_reshard_doc(const cJSON *ph);
int kp_reshard_text(const cJSON *doc, bool color, struct buf *out);

/* ---- report: redaction and the tarball ----------------------------------- */

struct kp_redactor;

struct kp_redactor *kp_redactor_new(void);
void kp_redactor_free(struct kp_redactor *r);
/* Learns every value of the Secret obj (data, base64-decoded, and its
 * base64 form; stringData) so that kp_redact() replaces them. Values
 * shorter than KP_REDACT_MIN are not learned (they would match too much);
 * they are counted in *short_out when not NULL. Returns 0 or -EINVAL. */
#define KP_REDACT_MIN 4
int kp_redactor_learn(struct kp_redactor *r, const cJSON *secret,
		      unsigned *short_out);
/* Replaces, in place, every Secret value in obj (data, stringData) with
 * "<redacted N bytes>", and drops the last-applied annotation that would
 * carry them. */
void kp_redact_secret(cJSON *secret);
/* Replaces every learned value in b with "<redacted>". Returns how many
 * were replaced, or a negative errno (-EMSGSIZE past b's cap). */
long kp_redact(const struct kp_redactor *r, struct buf *b);

/* A ustar archive, gzip-compressed, held in memory up to a cap. */
struct kp_tar;

#define KP_TAR_MAX_FILE ((size_t)16 << 20)
#define KP_TAR_MAX_TOTAL ((size_t)128 << 20)

int kp_tar_new(size_t max_total, struct kp_tar **out);
void kp_tar_free(struct kp_tar *t);
/* Adds a regular file. A name over 100 bytes, or data over
 * KP_TAR_MAX_FILE, is -ENAMETOOLONG / -EFBIG; the archive past max_total
 * -EMSGSIZE (nothing added). */
int kp_tar_add(struct kp_tar *t, const char *name, const void *data, size_t len,
	       time_t mtime);
/* Ends the archive and hands the gzip bytes to *out (caller frees). */
int kp_tar_finish(struct kp_tar *t, unsigned char **out, size_t *len);

/* ---- helpers -------------------------------------------------------------- */

/* obj's string at a dotted path ("status.phase"), or NULL. Borrowed. */
const char *kp_str(const cJSON *obj, const char *path);
/* obj's item at a dotted path, or NULL. Borrowed. */
const cJSON *kp_get(const cJSON *obj, const char *path);

#endif

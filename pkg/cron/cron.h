/*
 * cron: schedules in cron syntax, and the next time one fires.
 *
 * Two forms, told apart by the number of fields:
 *   5 fields  "minute hour day-of-month month day-of-week", as crontab(5)
 *             and Kubernetes CronJob;
 *   6 fields  "second minute hour day-of-month month day-of-week", as
 *             CloudNativePG's ScheduledBackup (robfig/cron with seconds).
 * Each field is "*", a number, a range "a-b", a step "*" "/n" or "a-b/n",
 * or a comma-separated list of those. Day-of-week is 0-7 (0 and 7 are
 * Sunday). When both day-of-month and day-of-week are restricted, a day
 * matching either fires (crontab(5)). The macros @yearly (@annually),
 * @monthly, @weekly, @daily (@midnight) and @hourly are accepted. Names
 * (JAN, MON) are not. Times are UTC.
 */
#ifndef PHO_CRON_H
#define PHO_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A parsed schedule; a plain value, no resources. */
struct cron {
	uint64_t second;  /* bits 0-59 */
	uint64_t minute;  /* bits 0-59 */
	uint32_t hour;    /* bits 0-23 */
	uint32_t dom;     /* bits 1-31 */
	uint16_t month;   /* bits 1-12 */
	uint8_t dow;      /* bits 0-6 */
	bool dom_any, dow_any;
};

/*
 * Parses s into *out. Returns 0 or -EINVAL with the reason in err, naming
 * the field, e.g. "hour: 24 is outside 0-23".
 */
int cron_parse(const char *s, struct cron *out, char *err, size_t errlen);

/*
 * The first time strictly after `after` at which c fires, into *out.
 * Returns 0, or -ERANGE when none comes within five years (e.g. "0 0 31 2 *").
 */
int cron_next(const struct cron *c, time_t after, time_t *out);

#endif

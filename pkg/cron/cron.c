/* cron: parsing and next-time computation; see cron.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cron.h"

#define CRON_MAX_FIELD 128
#define CRON_HORIZON_S ((time_t)5 * 366 * 86400)

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_N };

static const struct {
	const char *name;
	unsigned lo, hi;
} fields[F_N] = {
	[F_SEC] = {"second", 0, 59},       [F_MIN] = {"minute", 0, 59},
	[F_HOUR] = {"hour", 0, 23},        [F_DOM] = {"day-of-month", 1, 31},
	[F_MON] = {"month", 1, 12},        [F_DOW] = {"day-of-week", 0, 7},
};

static const struct {
	const char *macro, *expansion;
} macros[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* Reads a decimal number of at most 4 digits at *p. */
static int number(const char **p, unsigned *out)
{
	unsigned v = 0, n = 0;

	while (**p >= '0' && **p <= '9') {
		if (++n > 4)
			return -EINVAL;
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One comma-separated element: "*", "n", "a-b", with an optional "/step". */
static int element(const char *s, const char *end, int f, uint64_t *bits,
		   char *err, size_t errlen)
{
	const char *p = s;
	unsigned lo = fields[f].lo, hi = fields[f].hi, step = 1;
	int n = (int)(end - s);

	if (p < end && *p == '*') {
		p++;
	} else {
		if (number(&p, &lo) < 0)
			goto bad;
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			if (number(&p, &hi) < 0)
				goto bad;
		}
		if (lo < fields[f].lo || hi > fields[f].hi || lo > fields[f].hi) {
			snprintf(err, errlen, "%s: %.*s is outside %u-%u", fields[f].name, n, s,
				 fields[f].lo, fields[f].hi);
			return -EINVAL;
		}
		if (lo > hi) {
			snprintf(err, errlen, "%s: the range %.*s runs backwards", fields[f].name, n, s);
			return -EINVAL;
		}
	}
	if (p < end && *p == '/') {
		p++;
		if (number(&p, &step) < 0 || step == 0 || step > fields[f].hi) {
			snprintf(err, errlen, "%s: the step in %.*s must be 1-%u", fields[f].name, n, s,
				 fields[f].hi);
			return -EINVAL;
		}
		if (s[0] != '*' && memchr(s, '-', (size_t)(p - s)) == NULL)
			hi = fields[f].hi; /* "5/15": from 5 to the end */
	}
	if (p != end)
		goto bad;
	for (unsigned v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << (f == F_DOW && v == 7 ? 0 : v);
	return 0;
bad:
	snprintf(err, errlen, "%s: \"%.*s\" is not *, a number, a range a-b or a step */n",
		 fields[f].name, n, s);
	return -EINVAL;
}

static int field(const char *s, size_t len, int f, uint64_t *bits, char *err,
		 size_t errlen)
{
	const char *end = s + len, *p = s;

	*bits = 0;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		int r;

		if (e == p) {
			snprintf(err, errlen, "%s: an empty list element", fields[f].name);
			return -EINVAL;
		}
		r = element(p, e, f, bits, err, errlen);
		if (r < 0)
			return r;
		p = e + 1;
	}
	return 0;
}

int cron_parse(const char *s, struct cron *out, char *err, size_t errlen)
{
	const char *start[F_N + 1];
	size_t len[F_N + 1];
	unsigned n = 0;
	uint64_t bits[F_N];
	int base, r;

	if (!s || !s[0]) {
		snprintf(err, errlen, "empty schedule");
		return -EINVAL;
	}
	if (strlen(s) > CRON_MAX_FIELD) {
		snprintf(err, errlen, "longer than %d characters", CRON_MAX_FIELD);
		return -EINVAL;
	}
	if (s[0] == '@') {
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
			if (!strcmp(s, macros[i].macro))
				return cron_parse(macros[i].expansion, out, err, errlen);
		snprintf(err, errlen, "unknown macro %s (known: @yearly, @monthly, @weekly, "
			 "@daily, @hourly)", s);
		return -EINVAL;
	}
	for (const char *p = s; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n == F_N) {
			snprintf(err, errlen, "more than 6 fields");
			return -EINVAL;
		}
		start[n] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		len[n] = (size_t)(p - start[n]);
		n++;
	}
	if (n != 5 && n != 6) {
		snprintf(err, errlen, "%u fields; want 5 (minute hour day-of-month month "
			 "day-of-week) or 6 (second first)", n);
		return -EINVAL;
	}
	base = n == 6 ? F_SEC : F_MIN;
	if (n == 5)
		bits[F_SEC] = 1;
	for (int f = base; f < F_N; f++) {
		r = field(start[f - base], len[f - base], f, &bits[f], err, errlen);
		if (r < 0)
			return r;
	}
	memset(out, 0, sizeof(*out));
	out->second = bits[F_SEC];
	out->minute = bits[F_MIN];
	out->hour = (uint32_t)bits[F_HOUR];
	out->dom = (uint32_t)bits[F_DOM];
	out->month = (uint16_t)bits[F_MON];
	out->dow = (uint8_t)bits[F_DOW];
	out->dom_any = start[F_DOM - base][0] == '*';
	out->dow_any = start[F_DOW - base][0] == '*';
	return 0;
}

static bool day_matches(const struct cron *c, const struct tm *tm)
{
	bool dom = c->dom & (1u << tm->tm_mday);
	bool dow = c->dow & (1u << tm->tm_wday);

	if (c->dom_any && c->dow_any)
		return true;
	if (c->dom_any)
		return dow;
	if (c->dow_any)
		return dom;
	return dom || dow;
}

int cron_next(const struct cron *c, time_t after, time_t *out)
{
	time_t t = after + 1;
	struct tm tm;

	while (t - after <= CRON_HORIZON_S) {
		if (!gmtime_r(&t, &tm))
			return -ERANGE;
		if (!(c->month & (1u << (tm.tm_mon + 1)))) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!day_matches(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!(c->hour & (1u << tm.tm_hour))) {
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
		} else if (!(c->minute & ((uint64_t)1 << tm.tm_min))) {
			tm.tm_min++;
			tm.tm_sec = 0;
		} else if (!(c->second & ((uint64_t)1 << tm.tm_sec))) {
			tm.tm_sec++;
		} else {
			*out = t;
			return 0;
		}
		tm.tm_isdst = 0;
		t = timegm(&tm);
	}
	return -ERANGE;
}

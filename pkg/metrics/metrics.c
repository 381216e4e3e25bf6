/*
 * The registry is a list of families, each with a list of series. Lookups
 * are linear: an operator has a few dozen families and few series per
 * family, and a scrape every few seconds costs far less than a reconcile.
 * One mutex guards everything; collectors run outside it because they call
 * back into the setters.
 */
#include "metrics.h"
#include "metrics-private.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "pkg/util/util.h"

#define MAX_COLLECTORS 16

enum metric_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct series {
	struct series *next;
	char *labels; /* rendered: a="x",b="y" (no braces); "" for none */
	double value;
	double sum;
	unsigned long long count;
	unsigned long long *bucket_counts; /* nbuckets, not cumulative */
};

struct family {
	struct family *next;
	char *name;
	char *help;
	enum metric_type type;
	double *buckets;
	size_t nbuckets;
	struct series *series;
	size_t nseries;
};

struct collector {
	metrics_collect_fn fn;
	void *userdata;
};

struct metrics {
	pthread_mutex_t lock;
	struct family *families;
	size_t nseries;
	double dropped;
	struct collector collectors[MAX_COLLECTORS];
	size_t ncollectors;
	size_t last_len; /* the last exposition's length, to size the next */
};

#define DROPPED_NAME "metrics_dropped_series_total"
#define DROPPED_HELP "Series not recorded because the registry was full."

static struct family *get_family(struct metrics *m, const char *name,
				 const char *help, enum metric_type type,
				 const double *buckets, size_t nbuckets);
static struct series *get_series(struct metrics *m, struct family *f,
				 const char *const *labels);

int metrics_new(struct metrics **out)
{
	struct metrics *m = util_xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	/* The drop counter exists from the start so that it never competes
	 * for a slot with the series whose loss it reports. */
	struct family *f = get_family(m, DROPPED_NAME, DROPPED_HELP, M_COUNTER,
				      NULL, 0);
	get_series(m, f, NULL);
	m->nseries = 0;
	*out = m;
	return 0;
}

static void series_free(struct series *s)
{
	free(s->labels);
	free(s->bucket_counts);
	free(s);
}

/* Unlinks *sp (called with the lock held). */
static void series_drop(struct metrics *m, struct family *f, struct series **sp)
{
	struct series *s = *sp;

	*sp = s->next;
	series_free(s);
	f->nseries--;
	m->nseries--;
}

static void family_free(struct family *f)
{
	struct series *s = f->series;
	while (s) {
		struct series *n = s->next;
		series_free(s);
		s = n;
	}
	free(f->name);
	free(f->help);
	free(f->buckets);
	free(f);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	struct family *f = m->families;
	while (f) {
		struct family *n = f->next;
		family_free(f);
		f = n;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Label values are escaped as the exposition format requires: backslash,
 * double quote and newline. */
static void escape_into(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '"')
			buf_puts(b, "\\\"");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_put(b, s, 1);
	}
}

static char *render_labels(const char *const *labels)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		buf_putf(&b, "%s%s=\"", i ? "," : "", labels[i]);
		escape_into(&b, labels[i + 1]);
		buf_puts(&b, "\"");
	}
	if (buf_error(&b)) { /* labels past 64 KiB: no series for them */
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

static struct family *find_family(struct metrics *m, const char *name)
{
	for (struct family *f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct family *get_family(struct metrics *m, const char *name,
				 const char *help, enum metric_type type,
				 const double *buckets, size_t nbuckets)
{
	struct family *f = find_family(m, name);
	if (f)
		return f->type == type ? f : NULL;
	f = util_xcalloc(1, sizeof(*f));
	f->name = util_xstrdup(name ? name : "");
	f->help = util_xstrdup(help ? help : "");
	f->type = type;
	if (type == M_HISTOGRAM && nbuckets) {
		f->buckets = util_xcalloc(1, nbuckets * sizeof(double));
		memcpy(f->buckets, buckets, nbuckets * sizeof(double));
		f->nbuckets = nbuckets;
	}
	f->next = m->families;
	m->families = f;
	return f;
}

static struct series *find_series(struct family *f, const char *labels)
{
	for (struct series *s = f->series; s; s = s->next)
		if (strcmp(s->labels, labels) == 0)
			return s;
	return NULL;
}

/* Called with the lock held. Returns NULL (and counts the drop) when the
 * registry is full. */
static struct series *get_series(struct metrics *m, struct family *f,
				 const char *const *labels)
{
	char *rendered = render_labels(labels);
	struct series *s = rendered ? find_series(f, rendered) : NULL;
	if (!rendered) {
		m->dropped += 1;
		return NULL;
	}
	if (s) {
		free(rendered);
		return s;
	}
	if (m->nseries >= METRICS_MAX_SERIES) {
		free(rendered);
		m->dropped += 1;
		return NULL;
	}
	s = util_xcalloc(1, sizeof(*s));
	s->labels = rendered;
	if (f->type == M_HISTOGRAM)
		s->bucket_counts =
			util_xcalloc(1, (f->nbuckets + 1) * sizeof(unsigned long long));
	s->next = f->series;
	f->series = s;
	f->nseries++;
	m->nseries++;
	return s;
}

/* Whether the rendered label set has item (one rendered name="value") as
 * a whole item. Values are escaped, so no '"' inside one ends an item. */
static bool has_item(const char *labels, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = strstr(labels, item); p; p = strstr(p + 1, item))
		if ((p == labels || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

int metrics_forget(struct metrics *m, const char *const *labels)
{
	char *items[8];
	size_t nitems = 0, i;
	int gone = 0;

	for (i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		const char *pair[] = {labels[i], labels[i + 1], NULL};

		if (nitems == sizeof(items) / sizeof(items[0]) ||
		    !(items[nitems] = render_labels(pair))) {
			while (nitems)
				free(items[--nitems]);
			return -EINVAL;
		}
		nitems++;
	}
	if (!nitems || !m) {
		while (nitems)
			free(items[--nitems]);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	for (struct family *f = m->families; f; f = f->next) {
		struct series **sp = &f->series;

		while (*sp) {
			struct series *s = *sp;
			bool all = true;

			for (i = 0; i < nitems && all; i++)
				all = has_item(s->labels, items[i]);
			if (!all) {
				sp = &s->next;
				continue;
			}
			series_drop(m, f, sp);
			gone++;
		}
	}
	pthread_mutex_unlock(&m->lock);
	while (nitems)
		free(items[--nitems]);
	return gone;
}

int metrics_clear(struct metrics *m, const char *name)
{
	struct family *f;
	int gone = 0;

	if (!m || !name)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	f = find_family(m, name);
	while (f && f->series && strcmp(name, DROPPED_NAME)) {
		series_drop(m, f, &f->series);
		gone++;
	}
	pthread_mutex_unlock(&m->lock);
	return f ? gone : -ENOENT;
}

static int update(struct metrics *m, const char *name, const char *help,
		  enum metric_type type, const char *const *labels, double v,
		  bool add)
{
	if (!m || !name)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	int rc = 0;
	struct family *f = get_family(m, name, help, type, NULL, 0);
	if (!f) {
		rc = -EINVAL;
		goto out;
	}
	struct series *s = get_series(m, f, labels);
	if (s)
		s->value = add ? s->value + v : v;
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int metrics_counter_add(struct metrics *m, const char *name, const char *help,
			const char *const *labels, double v)
{
	if (v < 0)
		return -EINVAL;
	return update(m, name, help, M_COUNTER, labels, v, true);
}

int metrics_gauge_set(struct metrics *m, const char *name, const char *help,
		      const char *const *labels, double v)
{
	return update(m, name, help, M_GAUGE, labels, v, false);
}

int metrics_gauge_add(struct metrics *m, const char *name, const char *help,
		      const char *const *labels, double v)
{
	return update(m, name, help, M_GAUGE, labels, v, true);
}

static int declare(struct metrics *m, const char *name, const char *help,
		   enum metric_type type)
{
	if (!m || !name)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	int rc = get_family(m, name, help, type, NULL, 0) ? 0 : -EINVAL;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int metrics_counter_declare(struct metrics *m, const char *name, const char *help)
{
	return declare(m, name, help, M_COUNTER);
}

int metrics_gauge_declare(struct metrics *m, const char *name, const char *help)
{
	return declare(m, name, help, M_GAUGE);
}

int metrics_histogram_observe(struct metrics *m, const char *name,
			      const char *help, const char *const *labels,
			      const double *buckets, size_t nbuckets, double v)
{
	if (!m || !name)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	int rc = 0;
	struct family *f = get_family(m, name, help, M_HISTOGRAM, buckets,
				      nbuckets);
	if (!f) {
		rc = -EINVAL;
		goto out;
	}
	struct series *s = get_series(m, f, labels);
	if (!s)
		goto out;
	size_t i = 0;
	while (i < f->nbuckets && v > f->buckets[i])
		i++;
	s->bucket_counts[i]++;
	s->sum += v;
	s->count++;
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int metrics_get(struct metrics *m, const char *name,
		const char *const *labels, double *out)
{
	pthread_mutex_lock(&m->lock);
	int rc = -ENOENT;
	struct family *f = find_family(m, name);
	if (f) {
		char *rendered = render_labels(labels);
		struct series *s = rendered ? find_series(f, rendered) : NULL;
		free(rendered);
		if (s) {
			*out = f->type == M_HISTOGRAM ? (double)s->count
						      : s->value;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn,
			  void *userdata)
{
	pthread_mutex_lock(&m->lock);
	int rc = -ENOSPC;
	if (m->ncollectors < MAX_COLLECTORS) {
		m->collectors[m->ncollectors++] =
			(struct collector){ fn, userdata };
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int metrics_remove_collector(struct metrics *m, metrics_collect_fn fn,
			     void *userdata)
{
	pthread_mutex_lock(&m->lock);
	int rc = -ENOENT;
	for (size_t i = 0; i < m->ncollectors; i++) {
		if (m->collectors[i].fn == fn &&
		    m->collectors[i].userdata == userdata) {
			memmove(&m->collectors[i], &m->collectors[i + 1],
				(m->ncollectors - i - 1) * sizeof(m->collectors[0]));
			m->ncollectors--;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Formats a sample value the way Go's strconv 'g' with shortest precision
 * would, closely enough for Prometheus: integers without exponent up to
 * 1e15, the shortest of %.15g/%.17g that reads back, and +Inf/-Inf/NaN. */
void metrics_format_value(double v, char *out, size_t outsz)
{
	if (isnan(v)) {
		snprintf(out, outsz, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(out, outsz, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, outsz, "%.17g", v);
}

static void render_sample(struct buf *out, const char *name,
			  const char *suffix, const char *labels,
			  const char *extra, double v)
{
	char num[64];
	metrics_format_value(v, num, sizeof(num));
	bool any = labels[0] || extra;
	buf_putf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "",
		   labels, labels[0] && extra ? "," : "", extra ? extra : "",
		   any ? "}" : "", num);
}

static void render_histogram(struct buf *out, const struct family *f,
			     const struct series *s)
{
	unsigned long long cum = 0;
	char le[80], num[64];
	for (size_t i = 0; i <= f->nbuckets; i++) {
		cum += s->bucket_counts[i];
		if (i < f->nbuckets)
			metrics_format_value(f->buckets[i], num, sizeof(num));
		else
			snprintf(num, sizeof(num), "+Inf");
		snprintf(le, sizeof(le), "le=\"%s\"", num);
		render_sample(out, f->name, "_bucket", s->labels, le,
			      (double)cum);
	}
	render_sample(out, f->name, "_sum", s->labels, NULL, s->sum);
	render_sample(out, f->name, "_count", s->labels, NULL,
		      (double)s->count);
}

static int cmp_family(const void *a, const void *b)
{
	const struct family *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

static int cmp_series(const void *a, const void *b)
{
	const struct series *const *x = a, *const *y = b;
	return strcmp((*x)->labels, (*y)->labels);
}

static const char *type_name(enum metric_type t)
{
	return t == M_COUNTER ? "counter" : t == M_GAUGE ? "gauge" : "histogram";
}

static void render_family(struct buf *out, struct family *f)
{
	/* HELP text escapes backslash and newline only. */
	buf_putf(out, "# HELP %s ", f->name);
	for (const char *p = f->help; *p; p++) {
		if (*p == '\\')
			buf_puts(out, "\\\\");
		else if (*p == '\n')
			buf_puts(out, "\\n");
		else
			buf_put(out, p, 1);
	}
	buf_putf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
	struct series **arr = util_xcalloc(1, f->nseries * sizeof(*arr));
	size_t n = 0;
	for (struct series *s = f->series; s; s = s->next)
		arr[n++] = s;
	qsort(arr, n, sizeof(*arr), cmp_series);
	for (size_t i = 0; i < n; i++) {
		if (f->type == M_HISTOGRAM)
			render_histogram(out, f, arr[i]);
		else
			render_sample(out, f->name, "", arr[i]->labels, NULL,
				      arr[i]->value);
	}
	free(arr);
}

int metrics_render(struct metrics *m, struct buf *out)
{
	struct collector cs[MAX_COLLECTORS];
	pthread_mutex_lock(&m->lock);
	size_t nc = m->ncollectors;
	memcpy(cs, m->collectors, sizeof(cs));
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < nc; i++)
		cs[i].fn(cs[i].userdata, m);

	pthread_mutex_lock(&m->lock);
	find_family(m, DROPPED_NAME)->series->value = m->dropped;
	size_t nf = 0;
	for (struct family *f = m->families; f; f = f->next)
		nf++;
	struct family **arr = util_xcalloc(1, nf * sizeof(*arr));
	nf = 0;
	for (struct family *f = m->families; f; f = f->next)
		arr[nf++] = f;
	qsort(arr, nf, sizeof(*arr), cmp_family);
	/* Rendered in place, in room sized by the last exposition (so that a
	 * page of a few MB at 1,000 PostHogs is neither copied nor doubled).
	 * buf_* refuse appends past the cap, and a truncated exposition would
	 * be misread, so the caller gets it whole or not at all. */
	size_t start = out->len;
	int rc = buf_error(out);
	if (!rc && m->last_len) {
		size_t room = out->cap - out->len, want = m->last_len + m->last_len / 16;
		rc = buf_reserve(out, want < room ? want : room);
	}
	for (size_t i = 0; !rc && i < nf; i++)
		render_family(out, arr[i]);
	free(arr);
	if (!rc) {
		rc = buf_error(out);
		if (rc)
			buf_truncate(out, start);
		else
			m->last_len = out->len - start;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

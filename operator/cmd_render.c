/*
 * posthog-operator render: prints the objects the operator would create for
 * each PostHog in a YAML stream, without a cluster. Pure: the same input
 * always prints the same output.
 *
 * Documents other than PostHog (the Secrets an example carries, say) are
 * skipped: the operator never creates them, so printing them would make
 * the output claim otherwise. Rendering is all or nothing: if any PostHog
 * is invalid, every problem is reported on stderr and nothing is printed.
 *
 * With --bucket-ddl it prints, instead of objects, the per-bucket
 * ClickHouse tables the schema sync would create (render_ddl.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "api/posthog/posthog.h"
#include "pkg/buf/buf.h"
#include "pkg/jsonyaml/jsonyaml.h"
#include "render_ddl.h"

#define RENDER_MAX_INPUT (16u << 20)
#define RENDER_MAX_OUTPUT (256u << 20)

static const char usage[] =
	"usage: posthog-operator render -f FILE|- [--bucket-ddl TABLES]\n";

static const char help[] =
	"Prints, as a YAML stream in apply order, the Kubernetes objects the\n"
	"operator would create for every PostHog (posthog.com/v1alpha1) in\n"
	"FILE ('-' reads stdin). Other documents are skipped. An invalid\n"
	"PostHog prints one 'error: FIELD: PROBLEM' line per problem on\n"
	"stderr and nothing on stdout.\n\n"
	"  -f, --file FILE   the input (required)\n"
	"  --bucket-ddl TABLES\n"
	"                    print instead, one JSON line per bucket, the\n"
	"                    ClickHouse statements that the schema sync runs to\n"
	"                    create the bucket's Kafka table and view, with its\n"
	"                    names, topic, consumer group and brokers. TABLES\n"
	"                    holds the database's tables as the server reports\n"
	"                    them: the output of SELECT name, create_table_query\n"
	"                    FROM system.tables WHERE database = '...' FORMAT\n"
	"                    JSONEachRow\n"
	"  -h, --help        this help\n\n"
	"Exit status: 0 rendered, 1 invalid input, 2 bad usage.\n";

static int read_all(const char *path, struct buf *out)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		rc = buf_append(out, chunk, n);
		if (rc)
			break;
	}
	if (!rc && ferror(f))
		rc = -EIO;
	if (f != stdin)
		fclose(f);
	return rc;
}

static int parse_flags(int argc, char **argv, const char **file, const char **ddl)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			fputs(help, stdout);
			return 1;
		}
		if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc) {
			*file = argv[++i];
		} else if (!strncmp(a, "--file=", 7)) {
			*file = a + 7;
		} else if (!strcmp(a, "--bucket-ddl") && i + 1 < argc) {
			*ddl = argv[++i];
		} else {
			fprintf(stderr, "render: unexpected argument '%s'\n%s", a, usage);
			return -1;
		}
	}
	if (!*file) {
		fprintf(stderr, "render: -f is required\n%s", usage);
		return -1;
	}
	return 0;
}

static bool is_posthog(const cJSON *doc)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "kind");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "apiVersion");

	return cJSON_IsString(k) && !strcmp(k->valuestring, PH_KIND) &&
	       cJSON_IsString(v) && !strcmp(v->valuestring, PH_API_VERSION);
}

/* Reports every problem of every PostHog; returns how many PostHogs are
 * invalid. */
static int report_problems(const cJSON *docs, int posthogs)
{
	const cJSON *d, *p;
	int bad = 0;

	cJSON_ArrayForEach(d, docs) {
		cJSON *problems = NULL;
		const cJSON *name;

		if (!is_posthog(d) || ph_validate(d, &problems) == 0)
			continue;
		bad++;
		name = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(d, "metadata"), "name");
		cJSON_ArrayForEach(p, problems) {
			const char *f = cJSON_GetObjectItemCaseSensitive(p, "field")->valuestring;
			const char *m = cJSON_GetObjectItemCaseSensitive(p, "message")->valuestring;

			if (posthogs > 1 && cJSON_IsString(name))
				fprintf(stderr, "error: %s: %s: %s\n", name->valuestring, f, m);
			else
				fprintf(stderr, "error: %s: %s\n", f, m);
		}
		cJSON_Delete(problems);
	}
	return bad;
}

/* The rows of a JSONEachRow text: one object per non-empty line. */
static int parse_rows(const struct buf *in, cJSON **out)
{
	cJSON *rows = cJSON_CreateArray();
	const char *p = in->data ? in->data : "", *end = p + in->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		cJSON *row;

		if (n > 0) {
			row = cJSON_ParseWithLength(p, n);
			if (!cJSON_IsObject(row)) {
				cJSON_Delete(row);
				cJSON_Delete(rows);
				return -EINVAL;
			}
			cJSON_AddItemToArray(rows, row);
		}
		p += n + 1;
	}
	*out = rows;
	return 0;
}

static int render_docs(const cJSON *docs, const cJSON *tables, struct buf *out)
{
	const cJSON *d, *e;

	cJSON_ArrayForEach(d, docs) {
		cJSON *entries;

		if (!is_posthog(d))
			continue;
		if (tables) {
			int rc = render_bucket_ddl(d, tables, out);

			if (rc)
				return rc;
			continue;
		}
		if (ph_build(d, &entries) != 0)
			return -EINVAL;
		cJSON_ArrayForEach(e, entries) {
			int rc = jy_emit(cJSON_GetObjectItemCaseSensitive(e, "object"), 1, out);

			if (rc) {
				cJSON_Delete(entries);
				return rc;
			}
		}
		cJSON_Delete(entries);
	}
	return 0;
}

int cmd_render(int argc, char **argv)
{
	const char *file = NULL, *ddl = NULL;
	struct buf in, out;
	cJSON *docs = NULL, *tables = NULL, *d;
	char err[256];
	int rc, posthogs = 0, status = 1;

	rc = parse_flags(argc, argv, &file, &ddl);
	if (rc)
		return rc > 0 ? 0 : 2;
	buf_init(&in, RENDER_MAX_INPUT);
	buf_init(&out, RENDER_MAX_OUTPUT);
	rc = read_all(file, &in);
	if (rc) {
		fprintf(stderr, "error: %s: %s\n", file,
			rc == -EMSGSIZE ? "larger than 16 MiB" : strerror(-rc));
		goto done;
	}
	if (jy_parse_stream(buf_str(&in), in.len, &docs, err, sizeof(err))) {
		fprintf(stderr, "error: %s: %s\n", file, err);
		goto done;
	}
	cJSON_ArrayForEach(d, docs)
		posthogs += is_posthog(d);
	if (posthogs == 0) {
		fprintf(stderr, "error: %s: no %s (%s) document\n", file, PH_KIND,
			PH_API_VERSION);
		goto done;
	}
	if (report_problems(docs, posthogs) > 0)
		goto done;
	if (ddl) {
		buf_free(&in);
		buf_init(&in, RENDER_MAX_INPUT);
		rc = read_all(ddl, &in);
		if (rc == 0)
			rc = parse_rows(&in, &tables);
		if (rc) {
			fprintf(stderr, "error: %s: %s\n", ddl,
				rc == -EINVAL ? "want one JSON object per line (FORMAT JSONEachRow)" :
				rc == -EMSGSIZE ? "larger than 16 MiB" : strerror(-rc));
			goto done;
		}
	}
	rc = render_docs(docs, tables, &out);
	if (rc) {
		/* render_bucket_ddl said what was wrong with the definitions. */
		if (!tables || rc != -EINVAL)
			fprintf(stderr, "error: rendering failed: %s\n", strerror(-rc));
		goto done;
	}
	fwrite(out.data ? out.data : "", 1, out.len, stdout);
	status = fflush(stdout) == 0 ? 0 : 1;
done:
	cJSON_Delete(tables);
	cJSON_Delete(docs);
	buf_free(&in);
	buf_free(&out);
	return status;
}

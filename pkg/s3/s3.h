/*
 * s3: a client for S3-compatible object stores over libcurl.
 *
 * Requests use path-style URLs (<endpoint>/<bucket>/<key>), which every
 * S3-compatible server answers, and are signed with AWS Signature Version 4
 * by libcurl itself (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3"); this module
 * has no signer of its own. File uploads stream from disk and carry their
 * SHA-256 in x-amz-content-sha256, which libcurl's signer then uses as the
 * payload hash instead of reading the body.
 *
 * A failed request returns a negative errno and the store's own message in
 * err, e.g. "s3: PUT b/k: 403 SignatureDoesNotMatch: The request signature
 * we calculated does not match ...", so that it can go into a status
 * condition as it is. Status mapping lives in s3_status_errno() alone:
 * 401/403 -> -EACCES, 404 -> -ENOENT, 409 -> -EEXIST, 5xx and others ->
 * -EIO; a transport failure gives -ECONNREFUSED, -ETIMEDOUT, ... .
 *
 * A client is not thread-safe: one per thread.
 */
#ifndef PHO_S3_H
#define PHO_S3_H

#include <stdint.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"
#include "pkg/log/log.h"

struct s3_client;

struct s3_options {
	const char *endpoint;   /* "http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com" */
	const char *bucket;
	const char *region;     /* default "us-east-1" */
	const char *access_key; /* from the Secret, at the call site */
	const char *secret_key;
	int tls_verify;         /* for https endpoints */
	unsigned timeout_ms;    /* per request; default 300000 */
	size_t max_body;        /* cap of answers read into memory; default 64 MiB */
	struct log *log;        /* borrowed; may be NULL */
};

/* Counters of requests that succeeded, for tests and benchmarks. */
struct s3_stats {
	uint64_t puts;
	uint64_t put_bytes;
	uint64_t gets;
	uint64_t get_bytes;
	uint64_t lists;
	uint64_t deletes;
};

/* Copies what it needs from opts. Returns 0, -EINVAL (a field missing,
 * named in the log) or -ENOMEM. */
int s3_new(const struct s3_options *opts, struct s3_client **out)
	__attribute__((warn_unused_result));
void s3_free(struct s3_client *c);

/* Stores len bytes of data under key. */
int s3_put(struct s3_client *c, const char *key, const void *data, size_t len,
	   char *err, size_t errlen) __attribute__((warn_unused_result));

/* Streams the file at path to key. sha256_hex is the file's SHA-256 in
 * lowercase hex (64 characters) or NULL, then it is computed first. */
int s3_put_file(struct s3_client *c, const char *key, const char *path,
		const char *sha256_hex, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Appends the object's bytes to out (capped by out's cap). */
int s3_get(struct s3_client *c, const char *key, struct buf *out, char *err,
	   size_t errlen) __attribute__((warn_unused_result));

/* Writes the object to a new file at path (mode 0640), replacing one that
 * is there; a partial file is removed on failure. */
int s3_get_file(struct s3_client *c, const char *key, const char *path,
		char *err, size_t errlen) __attribute__((warn_unused_result));

/* Lists every key under prefix (all pages of ListObjectsV2) into *out, an
 * array of {"key": "...", "size": n} (caller frees), in the store's order. */
int s3_list(struct s3_client *c, const char *prefix, cJSON **out, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

/* Deletes key; deleting a missing key is not an error (S3 answers 204). */
int s3_delete(struct s3_client *c, const char *key, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void s3_get_stats(const struct s3_client *c, struct s3_stats *out);

/* The SHA-256 of the file at path as 64 lowercase hex digits into
 * hex[65]. Returns 0 or a negative errno. */
int s3_sha256_file(const char *path, char hex[65]) __attribute__((warn_unused_result));

/* Maps an HTTP status to 0 or a negative errno (see above). */
int s3_status_errno(int http_code) __attribute__((warn_unused_result));

/* A static description of a negative errno returned by this module. */
const char *s3_strerror(int err);

#endif

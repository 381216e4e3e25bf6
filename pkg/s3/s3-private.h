/*
 * s3 internals shared with the unit tests; not part of the API.
 */
#ifndef PHO_S3_PRIVATE_H
#define PHO_S3_PRIVATE_H

#include "s3.h"

/* Percent-encodes key for a URL path: unreserved characters and '/' stay,
 * every other byte becomes %XX. Returns 0 or -EMSGSIZE. */
int s3_encode_key(const char *key, int keep_slash, struct buf *out);

/* Copies the text of the first <tag>...</tag> in xml[0..len) into out
 * (XML entities decoded), searching from *pos and moving *pos past it.
 * Returns 1 when found, 0 when not, -EMSGSIZE when too long. */
int s3_xml_next(const char *xml, size_t len, const char *tag, size_t *pos,
		char *out, size_t outlen);

/* Formats the store's error answer ("<Code>: <Message>") into err with the
 * method, key and status; the trimmed body when it is not S3 error XML. */
void s3_format_error(const char *method, const char *key, int http_code,
		     const char *body, size_t len, char *err, size_t errlen);

#endif

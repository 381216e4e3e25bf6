/*
 * jsonyaml: YAML text to and from cJSON documents.
 *
 * Kubernetes objects live as cJSON documents in this project; YAML is only
 * an input and output format (kubeconfig files, `render` input and output,
 * server-side apply bodies). Scalars resolve as sigs.k8s.io/yaml does (YAML
 * 1.1 booleans and null, integers, floats); quoted scalars are strings.
 * Anchors and aliases are refused, which also rules out alias bombs.
 */
#ifndef PHO_JSONYAML_H
#define PHO_JSONYAML_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"

/* Deepest nesting accepted, to bound recursion on hostile input. */
#define JY_MAX_DEPTH 64

/*
 * Parses a YAML stream of one or more documents into a cJSON array with
 * one element per non-empty document (caller frees). On failure returns
 * -EINVAL and writes "line L, column C: problem" to err; *out is untouched.
 */
int jy_parse_stream(const char *text, size_t len, cJSON **out, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/* Parses exactly one document (an empty input gives JSON null). */
int jy_parse(const char *text, size_t len, cJSON **out, char *err,
	     size_t errlen) __attribute__((warn_unused_result));

/*
 * Appends doc as one YAML document (starting with "---" when
 * with_separator) to out. Strings that would read back as another type are
 * quoted; multi-line strings use the literal block style. Returns 0 or
 * -EMSGSIZE when out's cap is reached.
 */
int jy_emit(const cJSON *doc, int with_separator, struct buf *out)
	__attribute__((warn_unused_result));

#endif

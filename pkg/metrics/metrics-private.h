/* metrics internals shared with the tests. */
#ifndef PHO_METRICS_PRIVATE_H
#define PHO_METRICS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

/* Formats a sample value as the exposition format expects ("+Inf", "1",
 * "0.005"). */
void metrics_format_value(double v, char *out, size_t outsz);

#endif

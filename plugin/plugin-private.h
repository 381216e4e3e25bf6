/* Internal to plugin/: text helpers shared by the subcommands' printers. */
#ifndef PHO_PLUGIN_PRIVATE_H
#define PHO_PLUGIN_PRIVATE_H

#include "plugin.h"

#define KP_RED "31"
#define KP_GREEN "32"
#define KP_YELLOW "33"
#define KP_BOLD "1"
#define KP_DIM "2"

/* Appends s to out, wrapped in the ANSI code when color. */
int kp_paint(struct buf *out, bool color, const char *code, const char *s);
/* The colour of a state word: green for Ready/True/Completed, red for
 * Failed/False/Degraded, yellow otherwise. */
const char *kp_state_color(const char *state);
/* A scalar as text ("true", "3", the string); "-" for NULL or a non-scalar. */
void kp_scalar(const cJSON *v, char *out, size_t outlen);
/* Appends "  key: value" lines for every scalar field of obj. */
int kp_fields_text(const cJSON *obj, const char *indent, struct buf *out);
/* A number as a long long: 0 for a missing, non-number or out-of-range
 * value (a cast of NaN or of a huge double is undefined). */
long long kp_num(const cJSON *v);
/* A new object with the item at path copied (null when absent). */
void kp_copy_or_null(cJSON *into, const char *key, const cJSON *from, const char *path);

#endif

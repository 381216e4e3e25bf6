/* Placeholder: the kafka builder lands next. */
#include "build-private.h"

void ph_build_kafka(struct ph_ctx *c)
{
	(void)c;
}

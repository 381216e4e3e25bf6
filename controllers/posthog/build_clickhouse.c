/* Placeholder: the clickhouse builder lands next. */
#include "build-private.h"

void ph_build_clickhouse(struct ph_ctx *c)
{
	(void)c;
}

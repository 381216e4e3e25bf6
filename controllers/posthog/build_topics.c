/* Placeholder: the topics builder lands next. */
#include "build-private.h"

void ph_build_topics(struct ph_ctx *c)
{
	(void)c;
}

/* Placeholder: the zookeeper builder lands next. */
#include "build-private.h"

void ph_build_zookeeper(struct ph_ctx *c)
{
	(void)c;
}

/* Placeholder: the pluginserver builder lands next. */
#include "build-private.h"

void ph_build_plugin_server(struct ph_ctx *c)
{
	(void)c;
}

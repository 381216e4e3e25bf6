/*
 * posthog-operator: dispatches to a subcommand. `run` is the default, so
 * flags given without a subcommand go to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/posthog/posthog.h"

#include "commands.h"
#include "flags.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "version")) {
		printf("posthog-operator %s\n", PHO_VERSION);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "versions")) {
		/* The version matrix (docs/versions.md), as JSON. */
		cJSON *m = ph_version_matrix_json();
		char *text = cJSON_Print(m);

		if (!text)
			abort();
		printf("%s\n", text);
		free(text);
		cJSON_Delete(m);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "render"))
		return cmd_render(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "backup-agent"))
		return cmd_backup_agent(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "reshard"))
		return cmd_reshard(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "route"))
		return cmd_route(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (argc >= 2 && argv[1][0] != '-') {
		fprintf(stderr, "posthog-operator: unknown command \"%s\": want run, render, route, backup-agent, reshard, version or versions (see --help)\n",
			argv[1]);
		return 2;
	}
	return cmd_run(argc, argv);
}

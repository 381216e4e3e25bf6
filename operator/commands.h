/*
 * The subcommands of posthog-operator. main.c parses the subcommand name
 * and hands over argc/argv (argv[0] is the subcommand). Each returns the
 * process exit code: 0 success, 1 failure, 2 bad usage.
 */
#ifndef PHO_OPERATOR_COMMANDS_H
#define PHO_OPERATOR_COMMANDS_H

/* Runs the operator (the default when no subcommand is given). */
int cmd_run(int argc, char **argv);

/* Prints the objects a PostHog resource would produce, without a cluster. */
int cmd_render(int argc, char **argv);

/* Runs the bucket router (router/router.h). */
int cmd_route(int argc, char **argv);

/* Takes, restores, lists and expires ClickHouse backups of one shard
 * (see cmd_backup_agent.c). */
int cmd_backup_agent(int argc, char **argv);

/* Moves ClickHouse rows to the shards a new shard count gives them
 * (see cmd_reshard.c). */
int cmd_reshard(int argc, char **argv);

#endif

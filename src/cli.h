/*
 * cli.h - the command line: serve (default), enqueue, migrate, queues, check,
 * user add / user list, token and clock advance (local mode), --help,
 * --version. Exit status per SPEC §3: 0 success, 1 runtime failure, 2 usage
 * or configuration error, 3 what was to be created already exists (enqueue:
 * the task; user add: the user).
 */
#ifndef CJ_CLI_H
#define CJ_CLI_H

struct config;

enum cli_exit { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_EXISTS = 3 };

int cli_main(int argc, char **argv);

/* Loads the configuration from the environment as every command does and
 * starts logging at LOG_LEVEL. EXIT_OK, or the exit status after one line
 * on stderr naming the bad variable. On EXIT_OK the
 * caller releases cfg with config_release(). */
int cli_load_config(struct config *cfg);

#endif

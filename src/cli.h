/*
 * cli.h - the command line: serve (default), enqueue, migrate, queues, check,
 * token and clock advance (local mode), --help, --version. Exit status per
 * SPEC §3: 0 success, 1 runtime failure, 2 usage or configuration error,
 * 3 enqueue found the task already exists.
 */
#ifndef CJ_CLI_H
#define CJ_CLI_H

enum cli_exit { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_EXISTS = 3 };

int cli_main(int argc, char **argv);

#endif

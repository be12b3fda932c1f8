/*
 * cli.c - subcommand dispatch (placeholder until the server lands).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cli_main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("catchup-jobs %s\n", CJ_VERSION);
		return EXIT_OK;
	}
	fprintf(stderr, "catchup-jobs: not built yet\n");
	return EXIT_RUNTIME;
}

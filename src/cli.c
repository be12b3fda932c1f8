/*
 * cli.c - the command line (SPEC §3): serve (default), check, --help,
 * --version. Every error is one line on stderr naming its subject; exit
 * status 0 success, 1 runtime failure, 2 usage or configuration error,
 * 3 the task already exists.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "check_cmd.h"
#include "config.h"
#include "log.h"
#include "serve.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: catchup-jobs [serve]            run the job server\n"
		"       catchup-jobs check              check configuration and dependencies\n"
		"       catchup-jobs --help | --version\n"
		"\n"
		"Exit status: 0 success, 1 runtime failure, 2 usage or configuration error,\n"
		"3 the task already exists.\n\n");
}

static int load_config(struct config *cfg)
{
	char err[512];
	int rc = config_load(cfg, NULL, NULL, err, sizeof(err));

	if (rc == CJ_ECONFIG) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		return EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "catchup-jobs: configuration: %s\n", cj_strerror(rc));
		return EXIT_RUNTIME;
	}
	log_init((enum log_level)cfg->log_level, cfg->gcp_project_id);
	return EXIT_OK;
}

static int no_extra_args(int argc, char **argv, int first)
{
	if (argc > first) {
		fprintf(stderr, "catchup-jobs: unexpected argument \"%s\" (see --help)\n",
			argv[first]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int cli_main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "serve";
	struct config cfg;
	int rc;

	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("catchup-jobs %s\n", CJ_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		config_print_help(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "serve") || !strcmp(cmd, "check")) {
		rc = no_extra_args(argc, argv, 2);
		if (rc)
			return rc;
		rc = load_config(&cfg);
		if (rc)
			return rc;
		rc = !strcmp(cmd, "serve") ? serve_run(&cfg) : check_run(&cfg, stdout);
		config_release(&cfg);
		return rc;
	}
	fprintf(stderr, "catchup-jobs: unknown command or flag \"%s\" (see --help)\n", cmd);
	return EXIT_USAGE;
}

/*
 * main.c - the catchup-jobs command: parses the subcommand and hands over to
 * cli.c. Kept tiny so that everything testable lives in the core library.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}

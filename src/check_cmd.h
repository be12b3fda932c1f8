/*
 * check_cmd.h - `catchup-jobs check`: validate the configuration, reach every
 * configured dependency, print a table of what is OK. Exit 0 when all is,
 * 1 when a dependency failed. The messaging providers (rows twilio and
 * sendgrid) have their credentials tried; one with no setting at all is
 * SKIP ("not configured"), which is not a failure.
 */
#ifndef CJ_CHECK_CMD_H
#define CJ_CHECK_CMD_H

#include <stdio.h>

#include "config.h"

int check_run(const struct config *cfg, FILE *out);

#endif

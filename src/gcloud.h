/*
 * gcloud.h - turns the queue and schedule configuration into the gcloud
 * commands that create or update every Cloud Tasks queue and Cloud Scheduler
 * job (the `queues` command; deploy/queues.sh runs its output).
 *
 * Each queue and each scheduler job becomes one line that updates the
 * resource when it exists and creates it otherwise, so running the output
 * twice is harmless. Every argument is single-quoted for the shell.
 * Pure function of its inputs: thread-safe.
 */
#ifndef CJ_GCLOUD_H
#define CJ_GCLOUD_H

#include <stdio.h>

#include "cj.h"

struct buf;
struct queues;
struct config;

/* Writes a bash script (starting with `set -euo pipefail`) to out. CJ_OK,
 * CJ_ECONFIG (no OIDC audience configured), CJ_ENOMEM, or CJ_EINTERNAL when
 * writing to out failed. */
int gcloud_print_commands(const struct queues *q, const struct config *cfg, FILE *out) CJ_WUR;

/* Appends s to b single-quoted for a POSIX shell ('it'\''s'). CJ_OK or the
 * buf error. */
int gcloud_shell_quote(struct buf *b, const char *s) CJ_WUR;

#endif

/*
 * emulator_json.h - Cloud Tasks' REST v2 JSON shapes for local mode's
 * embedded Cloud Tasks (SPEC §5.4, REFERENCE "Cloud Tasks REST API v2"):
 * a CreateTask request read into a task row, and Task, Queue and Location
 * objects written as Google writes them.
 *
 * Clients differ in how they speak proto3 JSON: Google's Node client in REST
 * mode sends enums as numbers (`"httpMethod": 1`) and asks for numbers back
 * (`$alt=json;enum-encoding=int`); others send names; times come with or
 * without fractions, durations as "600s" or "0.5s". Everything valid is
 * accepted; what is written is names, or numbers when enum_int is set.
 *
 * Ownership: returned json_t values are new references; a task filled by
 * emu_json_read_create() is released with emu_task_release(). Pure
 * functions: thread-safe.
 */
#ifndef CJ_EMULATOR_JSON_H
#define CJ_EMULATOR_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "cj.h"
#include "emulator_store.h"

struct queue_config;

/* Cloud Tasks' task size limit, applied to the decoded body. */
#define EMU_MAX_TASK_BODY (1024 * 1024)
/* Google's dispatchDeadline when a task sets none. */
#define EMU_DEFAULT_DEADLINE_S 600.0
/* The longest URL Cloud Tasks takes. */
#define EMU_MAX_URL 2083

enum emu_view { EMU_VIEW_BASIC = 1, EMU_VIEW_FULL = 2 };

/* A responseView given as a JSON name or number ("BASIC", "FULL", 1, 2;
 * VIEW_UNSPECIFIED or 0 is BASIC), or as query text ("FULL", "2"). NULL is
 * BASIC. 0, or -1 when it is none of these. */
int emu_json_view(const json_t *v, enum emu_view *out);
int emu_json_view_text(const char *s, enum emu_view *out);

/* Reads a CreateTaskRequest body {"task": {...}, "responseView": …} for the
 * queue named parent ("projects/P/locations/L/queues/Q") at business time
 * now. t receives the row to insert: the task's name (its own, or parent +
 * "/tasks/" + a random id), an HTTP target, scheduleTime (now when absent or
 * past), dispatchDeadline (600 s by default), the body re-encoded as
 * standard base64. CJ_OK; CJ_EINVAL with err the INVALID_ARGUMENT message
 * (also for a name outside parent); CJ_ENOMEM; CJ_EINTERNAL (no random
 * id). */
int emu_json_read_create(const json_t *body, const char *parent, const char *queue, double now,
                         struct emu_task *t, enum emu_view *view, char *err, size_t errlen) CJ_WUR;

/* The Task object (the body only in the FULL view). NULL on ENOMEM. */
json_t *emu_json_task(const struct emu_task *t, enum emu_view view, int enum_int);

/* The Queue object for queue qc of parent ("projects/P/locations/L").
 * purge_time 0: never purged. NULL on ENOMEM. */
json_t *emu_json_queue(const char *parent, const struct queue_config *qc, int paused,
                       double purge_time, int enum_int);

/* Formats a business time as Google does (RFC 3339 UTC, microseconds when
 * there is a fraction). */
void emu_json_time(double t, char *out, size_t outlen);

#endif

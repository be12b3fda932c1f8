/*
 * job_types.c - the table of job types (SPEC §7): one row per job, naming
 * its queue and its payload schema; see job_types.h. Nothing here knows
 * which handler runs a type.
 */
#include "job_types.h"

#include <string.h>

#define USER_ID(req)                                                                               \
	{                                                                                          \
		"userId", FT_STRING, (req), 1, 128, NULL                                           \
	}

/* Scans page with an opaque cursor carried by their follow-up task (§7). */
#define CURSOR                                                                                     \
	{                                                                                          \
		"cursor", FT_STRING, 0, 1, 500, NULL                                               \
	}

static const struct field_spec user_optional[] = {USER_ID(0), CURSOR, FIELD_END};
static const struct field_spec user_required[] = {USER_ID(1), FIELD_END};
static const struct field_spec cursor_only[] = {CURSOR, FIELD_END};
static const struct field_spec contacts_sync[] = {
    USER_ID(1),
    {"full", FT_BOOL, 0, 0, 0, NULL},
    FIELD_END,
};
static const struct field_spec calendar_sync[] = {
    USER_ID(1),
    {"calendarId", FT_STRING, 0, 1, 128, NULL},
    {"full", FT_BOOL, 0, 0, 0, NULL},
    FIELD_END,
};
static const char *const ping_failures[] = {"transient", "permanent", NULL};
static const struct field_spec ping_fields[] = {
    {"fail", FT_ENUM, 0, 0, 0, ping_failures},
    {"sleepMs", FT_INT, 0, 0, 30000, NULL},
    FIELD_END,
};

static const struct job_type types[] = {
    {"token-refresh", "token-refresh-queue", user_optional},
    {"google-contacts-sync", "google-contacts-sync-queue", contacts_sync},
    {"calendar-sync", "calendar-sync-queue", calendar_sync},
    {"suggestion-generation", "suggestion-generation-queue", user_optional},
    {"suggestion-regeneration", "suggestion-regeneration-queue", user_required},
    {"batch-notifications", "batch-notifications-queue", user_optional},
    {"notification-reminder", "notification-reminder-queue", cursor_only},
    {"token-health-reminder", "token-health-reminder-queue", user_optional},
    {"webhook-renewal", "webhook-renewal-queue", user_optional},
    {"webhook-health-check", "webhook-health-check-queue", cursor_only},
    {"adaptive-sync", "adaptive-sync-queue", cursor_only},
    {"ping", "ping-queue", ping_fields},
};

#define NTYPES (sizeof(types) / sizeof(types[0]))

const struct job_type *job_types_find(const char *name)
{
	for (size_t i = 0; name && i < NTYPES; i++) {
		if (!strcmp(types[i].name, name))
			return &types[i];
	}
	return NULL;
}

const struct job_type *job_types_find_by_queue(const char *queue)
{
	for (size_t i = 0; queue && i < NTYPES; i++) {
		if (!strcmp(types[i].queue, queue))
			return &types[i];
	}
	return NULL;
}

const struct job_type *job_types_all(size_t *n)
{
	*n = NTYPES;
	return types;
}

/*
 * registry.c - the table of job types (SPEC §7): one row per job, naming its
 * queue, its payload schema and its handler. Handlers not built yet have no
 * function and answer 501 not_implemented.
 */
#include "registry.h"

#include <string.h>

#include "handlers.h"

#define USER_ID(req)                                                                               \
	{                                                                                          \
		"userId", FT_STRING, (req), 1, 128, NULL                                           \
	}

static const struct field_spec user_optional[] = {USER_ID(0), FIELD_END};
static const struct field_spec user_required[] = {USER_ID(1), FIELD_END};
static const struct field_spec no_fields[] = {FIELD_END};
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
    {"token-refresh", "token-refresh-queue", user_optional, NULL},
    {"google-contacts-sync", "google-contacts-sync-queue", contacts_sync, NULL},
    {"calendar-sync", "calendar-sync-queue", calendar_sync, NULL},
    {"suggestion-generation", "suggestion-generation-queue", user_optional, NULL},
    {"suggestion-regeneration", "suggestion-regeneration-queue", user_required, NULL},
    {"batch-notifications", "batch-notifications-queue", user_optional, NULL},
    {"notification-reminder", "notification-reminder-queue", no_fields, NULL},
    {"token-health-reminder", "token-health-reminder-queue", user_optional, NULL},
    {"webhook-renewal", "webhook-renewal-queue", user_optional, NULL},
    {"webhook-health-check", "webhook-health-check-queue", no_fields, NULL},
    {"adaptive-sync", "adaptive-sync-queue", no_fields, NULL},
    {"ping", "ping-queue", ping_fields, handle_ping},
};

#define NTYPES (sizeof(types) / sizeof(types[0]))

const struct job_type *registry_find(const char *name)
{
	for (size_t i = 0; i < NTYPES; i++) {
		if (!strcmp(types[i].name, name))
			return &types[i];
	}
	return NULL;
}

const struct job_type *registry_find_by_queue(const char *queue)
{
	for (size_t i = 0; i < NTYPES; i++) {
		if (!strcmp(types[i].queue, queue))
			return &types[i];
	}
	return NULL;
}

const struct job_type *registry_all(size_t *n)
{
	*n = NTYPES;
	return types;
}

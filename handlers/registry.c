/*
 * registry.c - the handler of each job type; see registry.h. A type missing
 * here is listed in src/job_types.c but not built yet: it answers 501
 * not_implemented. Rows name the type as job_types.c spells it; a misspelt
 * name would look like a missing handler, so tests/test_registry.c lists
 * exactly which types have one.
 */
#include "registry.h"

#include <string.h>

#include "handlers.h"

static const struct {
	const char *type;
	job_fn run;
} handlers[] = {
    {"token-refresh", handle_token_refresh},
    {"google-contacts-sync", handle_google_contacts_sync},
    {"calendar-sync", handle_calendar_sync},
    {"suggestion-generation", handle_suggestion_generation},
    {"suggestion-regeneration", handle_suggestion_regeneration},
    {"batch-notifications", handle_batch_notifications},
    {"notification-reminder", handle_notification_reminder},
    {"token-health-reminder", handle_token_health_reminder},
    {"webhook-renewal", handle_webhook_renewal},
    {"webhook-health-check", handle_webhook_health_check},
    {"adaptive-sync", handle_adaptive_sync},
    {"ping", handle_ping},
};

#define NHANDLERS (sizeof(handlers) / sizeof(handlers[0]))

job_fn registry_handler(const struct job_type *type)
{
	for (size_t i = 0; type && i < NHANDLERS; i++) {
		if (!strcmp(handlers[i].type, type->name))
			return handlers[i].run;
	}
	return NULL;
}

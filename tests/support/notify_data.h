/*
 * notify_data.h - test data for the notification jobs (batch-notifications,
 * notification-reminder, token-health-reminder): users with a channel,
 * phone and waking hours, contacts, suggestions in a state, and the
 * messaging fake's recorded messages. Every call is a check assertion:
 * call from a test.
 */
#ifndef CJ_TEST_NOTIFY_DATA_H
#define CJ_TEST_NOTIFY_DATA_H

#include <stdint.h>

#include "job_harness.h"
#include "mfake.h"

/* A user (zone Etc/UTC) with channel ("sms", "email", "none"), phone and
 * email (NULL: none), awake from waking_start to waking_end minutes. */
void notify_add_user(struct job_harness *h, const char *id, const char *channel, const char *phone,
                     const char *email, int waking_start, int waking_end);
/* Waking hours that contain (awake) or exclude (!awake) the current UTC
 * minute of business time. */
void notify_waking_now(int awake, int *start, int *end);
/* A contact named name for user and a suggestion id for it starting at
 * start, in state ("pending", "accepted", ...). */
void notify_add_suggestion(struct job_harness *h, const char *user, const char *id,
                           const char *name, int64_t start, const char *state);
/* Messages the fake recorded for provider ("twilio", "sendgrid"; NULL:
 * both). */
long notify_messages(struct mfake *f, const char *provider);
/* The body (or text) of the i-th recorded message (malloc'd), NULL past the end. */
char *notify_message_body(struct mfake *f, size_t i);
/* Rows in table outbox with state. */
long notify_outbox_count(struct job_harness *h, const char *state);

#endif

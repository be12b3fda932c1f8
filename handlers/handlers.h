/*
 * handlers.h - the job handler functions, one per file in handlers/, listed
 * in registry.c. Each takes the job context and returns its outcome.
 */
#ifndef CJ_HANDLERS_H
#define CJ_HANDLERS_H

#include "job.h"

enum job_outcome handle_ping(struct job_ctx *ctx);
enum job_outcome handle_token_refresh(struct job_ctx *ctx);
enum job_outcome handle_google_contacts_sync(struct job_ctx *ctx);
enum job_outcome handle_calendar_sync(struct job_ctx *ctx);
enum job_outcome handle_suggestion_generation(struct job_ctx *ctx);
enum job_outcome handle_suggestion_regeneration(struct job_ctx *ctx);
enum job_outcome handle_batch_notifications(struct job_ctx *ctx);
enum job_outcome handle_notification_reminder(struct job_ctx *ctx);
enum job_outcome handle_token_health_reminder(struct job_ctx *ctx);
enum job_outcome handle_webhook_renewal(struct job_ctx *ctx);
enum job_outcome handle_webhook_health_check(struct job_ctx *ctx);
enum job_outcome handle_adaptive_sync(struct job_ctx *ctx);

#endif

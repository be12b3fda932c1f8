/*
 * notify_data.c - test data for the notification jobs; see notify_data.h.
 */
#include "notify_data.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"

void notify_add_user(struct job_harness *h, const char *id, const char *channel, const char *phone,
                     const char *email, int waking_start, int waking_end)
{
	struct store_param p[] = {store_p_text(id),          store_p_text(email),
	                          store_p_text(phone),       store_p_text(channel),
	                          store_p_int(waking_start), store_p_int(waking_end),
	                          store_p_int(clock_now_s())};
	char err[512] = "";

	ck_assert_msg(store_exec(h->db.s,
	                         "INSERT INTO users (id, email, phone, timezone, notify_channel, "
	                         "waking_start_minute, waking_end_minute, created_at, updated_at) "
	                         "VALUES ($1, $2, $3, 'Etc/UTC', $4, $5, $6, $7, $7)",
	                         p, 7, NULL, err, sizeof(err)) == CJ_OK,
	              "%s", err);
}

void notify_waking_now(int awake, int *start, int *end)
{
	int minute = (int)((clock_now_s() % 86400) / 60);

	if (awake) {
		*start = 0;
		*end = 1440;
	} else if (minute < 720) {
		*start = 720;
		*end = 1440;
	} else {
		*start = 0;
		*end = 700;
	}
}

void notify_add_suggestion(struct job_harness *h, const char *user, const char *id,
                           const char *name, int64_t start, const char *state)
{
	char cid[160], rn[160], err[512] = "";
	int64_t now = clock_now_s();

	snprintf(cid, sizeof(cid), "c-%s", id);
	snprintf(rn, sizeof(rn), "people/%s", id);
	{
		struct store_param p[] = {store_p_text(cid), store_p_text(user), store_p_text(rn),
		                          store_p_text(name), store_p_int(now)};

		ck_assert_msg(store_exec(h->db.s,
		                         "INSERT INTO contacts (id, user_id, resource_name, name, "
		                         "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
		                         p, 5, NULL, err, sizeof(err)) == CJ_OK,
		              "%s", err);
	}
	{
		struct store_param p[] = {store_p_text(id),    store_p_text(user),
		                          store_p_text(cid),   store_p_int(start),
		                          store_p_text(state), store_p_int(now)};

		ck_assert_msg(
		    store_exec(h->db.s,
		               "INSERT INTO suggestions (id, user_id, contact_id, slot_start, "
		               "slot_end, state, created_at, updated_at) VALUES ($1, $2, $3, "
		               "$4, $4 + 1800, $5, $6, $6)",
		               p, 6, NULL, err, sizeof(err)) == CJ_OK,
		    "%s", err);
	}
}

long notify_messages(struct mfake *f, const char *provider)
{
	json_t *all = mfake_get(f, "messages"), *m;
	long n = 0;
	size_t i;

	ck_assert_ptr_nonnull(all);
	json_array_foreach(all, i, m)
	{
		if (!provider ||
		    !strcmp(json_string_value(json_object_get(m, "provider")), provider))
			n++;
	}
	json_decref(all);
	return n;
}

char *notify_message_body(struct mfake *f, size_t i)
{
	json_t *all = mfake_get(f, "messages"), *m;
	const char *s;
	char *out = NULL;

	ck_assert_ptr_nonnull(all);
	m = json_array_get(all, i);
	if (m) {
		s = json_string_value(json_object_get(m, "body"));
		if (!s)
			s = json_string_value(json_object_get(m, "text"));
		out = strdup(s ? s : "");
	}
	json_decref(all);
	return out;
}

long notify_outbox_count(struct job_harness *h, const char *state)
{
	return (long)job_harness_int(h, "SELECT COUNT(*) FROM outbox WHERE state = $1", state,
	                             NULL);
}

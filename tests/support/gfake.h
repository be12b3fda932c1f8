/*
 * gfake.h - runs tests/fixtures/fake_google_apis (the OAuth token endpoint,
 * People connections.list and Calendar events.list a user's jobs call) on
 * a free loopback port and drives its /__control/ API.
 *
 * The fixture program comes from env CJ_FIXTURE_FAKE_GOOGLE_APIS (set by
 * meson). Point the product at it with GOOGLE_OAUTH_TOKEN_URL = url +
 * "/token", GOOGLE_PEOPLE_API_URL = url and GOOGLE_CALENDAR_API_URL = url.
 *
 * Control requests (POST, JSON bodies; 200 {} or 4xx {"error"}):
 *   accounts   {"refreshToken","calendars":[ids]}: creates or updates an
 *              account (calendars default ["primary"]; given, they become
 *              the account's, kept ones keep their events); also un-revokes
 *   contacts   {"refreshToken","upsert":[{"resourceName":"people/c1","name",
 *              "email","phone"}],"delete":[names],"generate":{"count",
 *              "offset"}}: generate makes people/g{n:06} "Contact {n}"
 *              <contact{n}@example.com> for n in offset..offset+count-1;
 *              upserts, then generated ones, then deletes, each a change
 *   events     {"refreshToken","calendarId"(default "primary"),"upsert":[{
 *              "id","summary","start","end"(Unix s),"allDay","status",
 *              "attendees":[{"email","responseStatus","self","organizer",
 *              "displayName"}],"utcOffsetMinutes","timeZone"}],"delete":[ids],
 *              "generate":{"count","start","step"(3600),"duration"(1800),
 *              "attendees":[emails],"offset"(0)}}: generated ids g{n:06};
 *              deleted events stay as cancelled tombstones
 *   expire-sync-tokens {"refreshToken","kind":"contacts"|"calendar"} (no
 *              kind: both) - page tokens of a sync in progress expire too
 *   revoke     {"refreshToken"}: invalid_grant, its access tokens fail
 *   expire-access {"refreshToken"} or {}: access tokens fail (401)
 *   fail       {"target":"token"|"people"|"calendar","count","status"(0 =
 *              answer normally),"reason","delayMs","retryAfter","drop"}
 *   config     {"expiresIn"}     reset  {}: all state, counters and faults
 * GET stats  {"token":{"calls","granted","invalidGrant","injected",
 *            "byRefreshToken":{rt:calls}},"people":{"calls","unauthorized",
 *            "injected"},"calendar":{…}}
 * GET requests?target=T  the last 200 calls [{"method","path","query"
 *            [,"body" for token]}], path and query still encoded.
 *
 * Not thread-safe: one test thread drives a fake. The child belongs to the
 * process that started it.
 */
#ifndef CJ_TEST_GFAKE_H
#define CJ_TEST_GFAKE_H

#include <jansson.h>

#include "cj.h"
#include "proc.h"

struct gfake {
	int port;
	char url[64]; /* http://127.0.0.1:PORT */
	struct proc proc;
};

/* Starts the fake (client_id and client_secret both NULL: any client is
 * accepted) and waits, bounded, until it answers. 0 or -1 (nothing left
 * running). */
int gfake_start(struct gfake *g, const char *client_id, const char *client_secret);
/* Stops it; safe to call twice. Shows its output on stderr when it did
 * not exit cleanly (a crash, a sanitizer's report). */
void gfake_stop(struct gfake *g);
/* POSTs the JSON text json_fmt (printf-formatted; escape strings yourself)
 * to /__control/<what>. 0 when answered 2xx, else -1 (the answer goes to
 * stderr). */
int gfake_control(struct gfake *g, const char *what, const char *json_fmt, ...) CJ_PRINTF(3, 4);
/* GETs /__control/<what> ("stats", "requests?target=people"): the answer
 * parsed, which the caller json_decrefs; NULL on failure. */
json_t *gfake_get(struct gfake *g, const char *what);

#endif

/*
 * gfake.h - runs tests/fixtures/fake_google_apis (the OAuth token endpoint,
 * People connections.list, Calendar events.list and Calendar push
 * notifications - events.watch, channels.stop and the pushes - that a
 * user's jobs call) on a free loopback port and drives its /__control/ API.
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
 *              deleted events stay as cancelled tombstones. A request that
 *              changed something (not, say, deleting an unknown id) pushes
 *              one "exists" to each live, unmuted channel on the calendar.
 *   expire-sync-tokens {"refreshToken","kind":"contacts"|"calendar"} (no
 *              kind: both) - page tokens of a sync in progress expire too
 *   revoke     {"refreshToken"}: invalid_grant, its access tokens fail
 *   expire-access {"refreshToken"} or {}: access tokens fail (401)
 *   fail       {"target":"token"|"people"|"calendar"|"watch"|"stop","count",
 *              "status"(0 = answer normally),"reason","delayMs",
 *              "retryAfter","drop"}; watch and stop fail in Calendar's shape
 *   config     {"expiresIn"}
 *   reset      {}: all state, counters and faults, the channels, queued
 *              pushes (one in flight finishes unrecorded) and the clock
 *   push       {"channelId","state"("exists"; "sync", "not_exists"),
 *              "messageNumber"(default: the channel's next, one per push;
 *              given, every push repeats it and the channel's counter does
 *              not move),"token"(absent: the channel's; a string replaces
 *              it; null omits the header),"count"(1, ≤ 1000),"intervalMs"(0,
 *              between pushes, ≤ 60000)}: sends now, from the request, to the
 *              newest channel with that id whatever its state (stopped,
 *              expired and muted ones too: replays) and answers
 *              {"statuses":[each push's HTTP status]} (0: no answer within
 *              5 s or no connection; -1: address not loopback, not sent)
 *   mute       {"channelId","muted":true|false}: no automatic pushes
 *   clock      {"offsetSeconds":N}: fake now = wall time + N (set, not
 *              added; may be negative) for channel expiry only
 *   wait-pushes {"timeoutMs"(10000)}: 200 {} once no automatic push is
 *              queued or in flight, 504 when the time ran out first
 * GET stats  {"token":{"calls","granted","invalidGrant","injected",
 *            "byRefreshToken":{rt:calls}},"people":{"calls","unauthorized",
 *            "injected"},"calendar":{…},"watch":{…},"stop":{…},"pushes":{
 *            "queued"(automatic pushes queued),"delivered"(2xx),"failed"
 *            (other status or none),"undeliverable"(not loopback)}};
 *            delivered, failed and undeliverable count control pushes too
 * GET requests?target=T  the last 200 calls [{"method","path","query"
 *            [,"body" for token, watch and stop]}], path and query still
 *            encoded.
 * GET channels {"channels":[{"id","resourceId","calendarId","refreshToken",
 *            "address","token"(null: none),"expiration"(Unix ms, a number),
 *            "state":"live"|"stopped"|"expired","muted","messages"(pushes
 *            sent or tried),"statuses":[the last ≤ 20, oldest first]}]} in
 *            creation order
 *
 * Push channels, as Google's Calendar API has them:
 *   POST /calendar/v3/calendars/{calendarId}/events/watch, Bearer access
 *     token (401 and 404 exactly as events.list), body {"id"(1-64 of
 *     [A-Za-z0-9-_+/=]),"type":"web_hook"|"webhook","address","token"(≤ 256
 *     chars),"params":{"ttl":"<seconds, a string>"}} ("expiration" and
 *     "payload" are ignored). 200 {"kind":"api#channel","id","resourceId",
 *     "resourceUri":"https://www.googleapis.com/calendar/v3/calendars/
 *     {calendarId percent-encoded}/events?alt=json","token"(when given),
 *     "expiration":"<Unix ms, a string>"}; expiration = fake now + ttl
 *     (604800 s without one, at most 2592000 s). resourceId is the same
 *     for every channel on one calendar of one account (27 characters of
 *     base64url). Errors, in Calendar's shape: 400 parseError (not a JSON
 *     object), required (id, type or address missing), invalid (bad id,
 *     type, token, params or ttl - a ttl that is not a string of digits),
 *     push.webhookUrlNotHttps (an address neither https:// nor
 *     http://127.0.0.1|localhost[:PORT]), channelIdNotUnique (a live
 *     channel has that id; a stopped or expired one's id may be reused).
 *   POST /calendar/v3/channels/stop, any valid Bearer access token, body
 *     {"id","resourceId"}: 204 with no body when they name a live channel
 *     (it gets no more automatic pushes, queued ones included); else 404
 *     notFound "Channel '<id>' not found for project '123456789'" (400
 *     required without id or resourceId, 401 without a valid token).
 *   Pushes: POST to the address, empty body, headers Content-Type:
 *     application/json; utf-8, User-Agent: APIs-Google; (+https://
 *     developers.google.com/webmasters/APIs-Google.html), X-Goog-Channel-ID,
 *     X-Goog-Channel-Token (when the channel has a token),
 *     X-Goog-Channel-Expiration (RFC 1123, e.g. "Tue, 19 Nov 2013 01:13:52
 *     GMT"), X-Goog-Resource-ID, X-Goog-Resource-URI, X-Goog-Resource-State
 *     ("sync" or "exists"), X-Goog-Message-Number (per channel from 1). A
 *     new channel gets "sync" number 1; each events change "exists". They
 *     go out in order from one background thread, 5 s timeout each, only
 *     to http://127.0.0.1:PORT/… or http://localhost:PORT/…; https://
 *     addresses are never contacted (each push counts as undeliverable,
 *     status -1). A failed push is recorded, not retried (Google retries
 *     with exponential backoff).
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
/* POSTs as gfake_control() and returns the answer parsed (NULL when there
 * was none or it was not JSON; the caller json_decrefs), *status its HTTP
 * status (0: no answer). For push, and any call expected to fail. */
json_t *gfake_post(struct gfake *g, const char *what, long *status, const char *json_fmt, ...)
    CJ_PRINTF(4, 5);
/* wait-pushes: 0 once the automatic pushes are all sent, -1 when
 * timeout_ms (at most 100000) ran out first or the fake did not answer. */
int gfake_wait_pushes(struct gfake *g, int timeout_ms);
/* The newest channel with id from GET channels (the caller json_decrefs),
 * or NULL. */
json_t *gfake_channel(struct gfake *g, const char *id);

#endif

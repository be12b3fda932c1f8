/*
 * contact_touch.h - moving contacts' last_contacted_at forward from
 * meetings that have ended (SPEC §7): each attendee e-mail of an ended
 * event, matched case-insensitively to the user's contacts, sets the
 * contact's last contact to the latest such event's end, never earlier
 * than it was. calendar-sync does it for the events it brought in; a
 * contacts sync that brought in contacts does it for every stored event, so
 * the order in which the two syncs run does not matter.
 */
#ifndef CJ_CONTACT_TOUCH_H
#define CJ_CONTACT_TOUCH_H

#include <stdint.h>

#include "cj.h"

struct store_conn;
struct store_rows;

/* rows: column 0 an event's attendee_emails (JSON array of lowercased
 * addresses), column 1 its end (Unix seconds), only events that ended by
 * now. Runs one UPDATE per distinct address in the caller's transaction;
 * *touched receives the number of contacts moved. */
int contact_touch_rows(struct store_conn *c, const char *user_id, struct store_rows *rows,
                       int64_t now, long *touched, char *err, size_t errlen) CJ_WUR;

/* Every stored ended event of the user, for contacts that just arrived. */
int contact_touch_all(struct store_conn *c, const char *user_id, int64_t now, long *touched,
                      char *err, size_t errlen) CJ_WUR;

#endif

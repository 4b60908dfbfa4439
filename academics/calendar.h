/* The calendar export behind GET /v1/calendar/<token>.ics: the one query that finds the
 * token's user and their week (a teacher's lessons, a parent's children's sections' lessons)
 * in the current academic year, and the iCalendar text made of its rows. The HTTP plumbing
 * lives in the gateway (gateway/calendar_http.c). */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>

#include "core/strbuf.h"

/* The query; $1 is the token's hash as a bytea literal ("\x…"). */
extern const char *const calendar_ics_sql;

/* Renders the query's rows as a VCALENDAR into out. Returns false when there are no rows
 * (unknown or revoked token, inactive user or school): the caller answers 404. */
bool calendar_render(const PGresult *res, struct strbuf *out);

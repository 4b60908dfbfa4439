/* The calendar export's query and rendering (see calendar.h). Each lesson is a weekly event
 * in floating local time (the school's clock, whatever the phone's time zone), starting on
 * the first day of the current academic year that falls on its weekday and repeating until
 * the year's last day. */
#include "academics/calendar.h"

#include "academics/ics.h"

/* Row 0 (kind 0): the user and the time stamp; then one row per lesson (kind 1): id,
 * summary, dtstart, dtend, until, room. */
enum { CAL_KIND, CAL_ID, CAL_SUMMARY, CAL_START, CAL_END, CAL_UNTIL, CAL_ROOM };

const char *const calendar_ics_sql =
    "WITH u AS (SELECT u.id, u.role, u.school_id FROM calendar_tokens ct"
    "           JOIN users u ON u.id = ct.user_id JOIN schools sc ON sc.id = u.school_id"
    "           WHERE ct.token_hash = $1::bytea AND u.active AND sc.status = 'active'),"
    " y AS (SELECT y.id, y.starts_on, y.ends_on FROM academic_years y JOIN u"
    "       ON y.school_id = u.school_id WHERE y.current),"
    " t AS (SELECT t.* FROM timetable_slots t, u WHERE t.year_id IN (SELECT id FROM y)"
    "       AND ((u.role = 'teacher' AND t.teacher_id = u.id)"
    "         OR (u.role = 'parent' AND t.section_id IN (SELECT s.section_id FROM guardians g"
    "             JOIN students s ON s.id = g.student_id"
    "             WHERE g.user_id = u.id AND s.status = 'enrolled'))))"
    " SELECT 0 AS kind, u.id::text, NULL::text,"
    " to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"'), NULL::text, NULL::text,"
    " NULL::text, 0::smallint AS wd, 0::smallint AS p FROM u"
    " UNION ALL"
    " SELECT 1, t.id::text, j.name || ' \xe2\x80\x94 ' || c.name || ' ' || s.name,"
    " to_char(d.day, 'YYYYMMDD') || 'T' || to_char(b.starts, 'HH24MISS'),"
    " to_char(d.day, 'YYYYMMDD') || 'T' || to_char(b.ends, 'HH24MISS'),"
    " to_char(y.ends_on, 'YYYYMMDD') || 'T235959', t.room, t.weekday, t.period"
    " FROM t JOIN bell_periods b ON b.school_id = t.school_id AND b.weekday = t.weekday"
    "   AND b.period = t.period"
    " JOIN subjects j ON j.id = t.subject_id JOIN sections s ON s.id = t.section_id"
    " JOIN classes c ON c.id = s.class_id JOIN y ON y.id = t.year_id,"
    " LATERAL (SELECT y.starts_on"
    "          + (t.weekday - extract(isodow FROM y.starts_on)::int + 7) % 7 AS day) d"
    " WHERE d.day <= y.ends_on"
    " ORDER BY kind, wd, p";

bool calendar_render(const PGresult *res, struct strbuf *out)
{
    int n = PQntuples(res);
    if (n == 0 || PQnfields(res) <= CAL_ROOM) {
        return false;
    }
    const char *stamp = PQgetvalue(res, 0, CAL_START);
    ics_begin_calendar(out, "-//Classment//Timetable//EN", "Timetable");
    for (int i = 1; i < n; i++) {
        struct strbuf uid;
        strbuf_init(&uid);
        strbuf_printf(&uid, "timetable-%s@classment", PQgetvalue(res, i, CAL_ID));
        ics_weekly_event(out, &(struct ics_weekly){
                                  .uid = uid.data,
                                  .dtstamp = stamp,
                                  .dtstart = PQgetvalue(res, i, CAL_START),
                                  .dtend = PQgetvalue(res, i, CAL_END),
                                  .until = PQgetvalue(res, i, CAL_UNTIL),
                                  .summary = PQgetvalue(res, i, CAL_SUMMARY),
                                  .location = PQgetisnull(res, i, CAL_ROOM)
                                                  ? NULL
                                                  : PQgetvalue(res, i, CAL_ROOM),
                              });
        strbuf_deinit(&uid);
    }
    ics_end_calendar(out);
    return true;
}

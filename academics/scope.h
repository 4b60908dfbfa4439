/* The records' scoped questions: may the caller read and write a section's records, a
 * student's records, a teacher's timetable. An admin has all of their school; a teacher has
 * the sections they teach (any subject) or are class teacher of, and those sections'
 * students; a parent has their own children. Another school's record is not found, never
 * forbidden. The questions follow the people layer's contract (people/policy.h): the same
 * four parameters (policy_params), one row (in_school, allowed, then the columns listed) or
 * none, read with policy_answer. scope_check asks one and continues when it allows. */
#pragma once
#include "core/op_db.h"
#include "people/policy.h"

enum scope_question {
    SCOPE_SECTION,   /* id: a section. Then: class_id, year_id */
    SCOPE_STUDENT,   /* id: a student (a parent: their child; a teacher: a student of their
                      * sections). Then: section_id (NULL when not placed), status */
    SCOPE_TEACHER,   /* id: a teacher of the school (an admin, or that teacher themself) */
    SCOPE_CLASS,     /* id: a class of the school (anyone of the school). Then: year_id */
    SCOPE_SUBJECT,   /* id: a subject of the school (anyone of the school). Then: class_id */
    SCOPE_YEAR,      /* id: an academic year of the school (anyone of the school) */
    SCOPE__COUNT
};

/* The sections a teacher has, as an SQL subquery on the user id parameter u ("$3"). */
#define SCOPE_TEACHER_SECTIONS(u)                                                           \
    "(SELECT ta.section_id FROM teacher_assignments ta WHERE ta.teacher_id = " u            \
    " UNION SELECT sc.id FROM sections sc WHERE sc.class_teacher_id = " u ")"

/* The query of q, or NULL for an unknown question. */
const char *scope_sql(enum scope_question q);

/* Asks q about id for op's caller. When it allows, continues with next(op, res), res being the
 * question's row; otherwise answers not_found ("no such section", naming field) or forbidden
 * (naming field). Returns like a handler. Parameters added before the call are an error. */
int scope_check(struct op_ctx *op, enum scope_question q, int64_t id, const char *field,
                op_rows_fn *next);

/* May the caller enter marks (or post homework) for subject in section: an admin of the
 * school, or a teacher with that assignment (teacher_assignments). Answers not_found naming
 * "section" or "subject" for ids not of the school, bad_request naming "subject" when it is not
 * a subject of the section's class, forbidden naming field otherwise; when it allows,
 * continues with next(op, res), res's row being (in_school, allowed, class_id, year_id).
 * Returns like a handler. Parameters added before the call are an error. */
int scope_teaches(struct op_ctx *op, int64_t section, int64_t subject, const char *field,
                  op_rows_fn *next);

/* Access policy of the people layer: the scoped questions about people that modules ask
 * before they show or change a record (is this user or student in the caller's school, is
 * this parent linked to this student), and the contract every scoped question follows, so
 * that domains above ask theirs the same way (tracking/access.h). Each answer is one query
 * an op runs with op_sql; another school's records are "not found", never "forbidden", so
 * their existence is not revealed. Role checks happen before, in the op table. */
#pragma once
#include <libpq-fe.h>
#include <stdint.h>

#include "core/op.h"

enum policy_question {
    POLICY_USER_IN_SCHOOL,    /* id: a user */
    POLICY_STUDENT_IN_SCHOOL, /* id: a student */
    POLICY_PARENT_OF_STUDENT, /* id: a student; the caller is one of their guardians */
    POLICY_STUDENT_READ,      /* id: a student; an admin, a teacher of the student's section
                               * (POLICY_TEACHER_SECTIONS) or a guardian of the student */
    POLICY__COUNT
};

/* The sections a teacher has (assigned to teach there, or class teacher of), as an SQL
 * subquery on the user id parameter u ("$3"): the people layer's copy of the records layer's
 * SCOPE_TEACHER_SECTIONS (academics/scope.h), which it may not include. */
#define POLICY_TEACHER_SECTIONS(u)                                                          \
    "(SELECT ta.section_id FROM teacher_assignments ta WHERE ta.teacher_id = " u            \
    " UNION SELECT sc.id FROM sections sc WHERE sc.class_teacher_id = " u ")"

enum policy_answer {
    POLICY_ALLOW = 0,
    POLICY_FORBIDDEN = 1, /* the record is in the caller's school, but not theirs to see */
    POLICY_NOT_FOUND = 2, /* no such record in the caller's school */
};

/* The query of q, or NULL for an unknown question. Every scoped question takes $1 = the
 * record id, $2 = the caller's school, $3 = the caller's user id and $4 = the caller's role
 * name, and returns one row (in_school, allowed), or none when the record is not in the
 * caller's school (op_sql's .not_found answers that case). */
const char *policy_sql(enum policy_question q);
/* Adds the four parameters of a scoped question about id for op's caller, for the next
 * op_sql. */
void policy_params(struct op_ctx *op, int64_t id);
/* The answer a scoped question's result gives. */
enum policy_answer policy_answer(const PGresult *res);

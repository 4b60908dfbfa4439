/* Several scoped questions asked one after another before an op writes: each id argument
 * through scope_check (not_found for another school's, forbidden out of scope), and teachers
 * named in arguments (a user of the school who is not a teacher: bad_request "must be a
 * teacher"). The answers' extra columns are kept for the op. */
#pragma once
#include "academics/scope.h"

#define CHECKS_MAX 4
#define CHECK_TEACHER_ROLE (-1) /* a pseudo-question: the id is a teacher of the school */

struct check {
    int q;             /* enum scope_question, or CHECK_TEACHER_ROLE */
    int64_t id;        /* 0: skipped (an absent argument) */
    const char *field;
    /* after the check: the answer's columns 2 and 3 (0 when NULL or absent) */
    int64_t col2, col3;
};

struct checks {
    int n, i;
    struct check k[CHECKS_MAX];
    op_fn *done;
};

/* Adds a check of the id argument named field (skipped when absent or nil). */
void checks_add(struct op_ctx *op, struct checks *c, int q, const char *field);
/* Runs the checks in order, then done(op) with op->state still c. Returns like a handler.
 * c must live in the arena (op_alloc) and be op->state. */
int checks_run(struct op_ctx *op, struct checks *c, op_fn *done);
/* A new struct checks in the arena, set as op->state. */
struct checks *checks_new(struct op_ctx *op);

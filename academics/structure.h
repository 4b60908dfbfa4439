/* The school's records: years, terms, classes, sections, subjects, teachers' assignments and year-end promotion. */
#pragma once
#include "core/op.h"

extern const struct op_def structure_ops[];

struct retention;
/* Registers the purge of students who left more than years ago, with their records. */
void structure_register_purge(struct retention *r, int years);

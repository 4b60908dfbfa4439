/* The school's records: years, terms, classes, sections, subjects, teachers' assignments and year-end promotion. */
#include "academics/structure.h"

const struct op_def structure_ops[] = {
    { .name = NULL },
};

void structure_register_purge(struct retention *r, int years)
{
    (void)r, (void)years; /* issue 10: the purge arrives with the students' status */
}

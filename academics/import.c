/* The school's records: bulk import of students with their guardians from CSV. */
#include "academics/import.h"

const struct op_def import_ops[] = {
    { .name = NULL },
};

/* guardian.*: the parents who look after a school's students, linked and unlinked by the
 * school's admins. Each link or unlink is told to the roster's listeners (people/roster.h). */
#pragma once
#include "core/op.h"
#include "core/op_pack.h"

/* The select list of one guardian, for a query joining guardians g and users u; put first,
 * its columns 0-3 are what guardian_cols packs. */
#define GUARDIAN_SELECT "g.user_id, u.name, g.relationship, g.emergency"

/* {user, name, relationship, emergency} from columns 0-3 of a row (GUARDIAN_SELECT). */
extern const struct op_col guardian_cols[];

/* guardian.link, guardian.unlink, guardian.list; op->domain is the struct people. */
extern const struct op_def guardian_ops[];

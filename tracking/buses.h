/* bus.*: a school's buses (registration number, capacity, usual driver), managed by the
 * school's admins. */
#pragma once
#include "core/op.h"

/* bus.create, bus.get, bus.list, bus.update, bus.delete; op->domain is the tracker (unused). */
extern const struct op_def bus_ops[];

/* Retention of the stored GPS track (see positions.h). */
#include "tracking/positions.h"

#include "core/retention.h"

int positions_register_purge(struct retention *r, int days)
{
    return retention_add(r, "positions", "SELECT purge_positions($1)", days);
}

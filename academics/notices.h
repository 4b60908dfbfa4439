/* The school's records: parents' notices: what they were told live, kept for when they were
 * offline. */
#pragma once
#include "core/op.h"

extern const struct op_def notice_ops[];

/* Read notices are kept this many days after reading; any notice at most twice that. */
#define NOTICE_RETENTION_DAYS 180

struct retention;
/* Registers the purge of old notices (purge_notices, sql/0009). Returns like retention_add. */
int notices_register_purge(struct retention *r, int days);

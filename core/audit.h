/* The audit log of sensitive reads and every change (DPDP Act 2023): who (user, role,
 * session), which op, which record, when, from where, with what outcome. Entries are buffered
 * and written in batches off the request path; a database outage delays them (the buffer is
 * bounded and what overflows is counted and logged), it never slows or fails an op. */
#pragma once
#include <stdint.h>
#include <uv.h>

#include "core/caller.h"

struct dbpool;
struct op_ctx;
struct audit;

struct audit_stats {
    uint64_t recorded; /* entries accepted into the buffer */
    uint64_t written;  /* entries stored */
    uint64_t dropped;  /* entries lost because the buffer was full */
    uint64_t buffered; /* entries waiting now */
};

struct audit *audit_new(uv_loop_t *loop, struct dbpool *db);
/* Records one entry (strings are copied). record_type may be NULL; record_id 0 means none. */
void audit_record(struct audit *a, const struct caller *who, const char *addr, const char *op,
                  const char *record_type, int64_t record_id, const char *outcome);
/* Records an entry for a request: the caller, op name and client address come from op. */
void audit_op(struct op_ctx *op, const char *record_type, int64_t record_id,
              const char *outcome);
void audit_get_stats(const struct audit *a, struct audit_stats *out);
/* Writes what is buffered (one last attempt), frees a, then runs done on the loop. */
void audit_close(struct audit *a, void (*done)(void *arg), void *arg);

/* Replies that cannot be malformed: maps packed from a table of {key, column, type} or of
 * {key, value}, whose entry count is computed from the table, never written by hand. Every
 * entry packs exactly one value, whatever the data: a NULL column is nil, and a sealed value
 * that does not open is nil (logged and counted), never a missing entry. */
#pragma once
#include <libpq-fe.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/op.h"

enum op_col_type {
    OP_COL_I64 = 1,     /* bigint/int; nil when NULL */
    OP_COL_TEXT,        /* text; nil when NULL */
    OP_COL_BOOL,        /* boolean; false when NULL */
    OP_COL_F64,         /* double precision; nil when NULL */
    OP_COL_SEALED_TEXT, /* bytea sealed by pii_seal_text for "<sealed>:<row id>" */
    OP_COL_SEALED_PHONE,/* users.phone_enc sealed by pii_seal_phone */
    OP_COL_OBJECT,      /* a nested map of fields from the same row; nil when col is NULL */
    OP_COL_FN,          /* packed by fn */
};

/* Packs exactly one value for a row: the contract of OP_COL_FN. */
typedef void op_col_fn(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                       int col);

struct op_col {
    const char *key; /* NULL ends a table */
    enum op_col_type type;
    int col;
    /* sealed types: the key version column and the row id column; OP_COL_SEALED_TEXT also
     * names the sealed column ("students.dob") */
    int key_col;
    int id_col;
    const char *sealed;
    const struct op_col *fields; /* OP_COL_OBJECT */
    op_col_fn *fn;               /* OP_COL_FN */
};

/* Packs row as a map of cols. */
void op_pack_row(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                 const struct op_col *cols);
/* Packs rows [first, PQntuples) as an array of maps; rows whose column skip_null_col is NULL
 * are left out when skip_null_col >= 0 (a LEFT JOIN that found nothing). */
void op_pack_rows(struct op_ctx *op, msgpack_packer *pk, const PGresult *res,
                  const struct op_col *cols, int skip_null_col);
/* Replies with one row, or with every row as an array. */
void op_reply_row(struct op_ctx *op, const PGresult *res, int row, const struct op_col *cols);
void op_reply_rows(struct op_ctx *op, const PGresult *res, const struct op_col *cols);

/* --- Maps of C values --- */
enum op_val_type { OP_V_I64 = 1, OP_V_U64, OP_V_F64, OP_V_BOOL, OP_V_STR, OP_V_NIL, OP_V_FN };

/* Packs exactly one value from arg: the contract of OP_V_FN. */
typedef void op_val_fn(msgpack_packer *pk, const void *arg);

struct op_field {
    const char *key; /* NULL ends a list */
    enum op_val_type type;
    union {
        int64_t i;
        uint64_t u;
        double f;
        bool b;
        const char *s; /* NULL packs nil */
        const void *arg;
    } v;
    op_val_fn *fn;
};

static inline struct op_field op_f_i64(const char *key, int64_t v)
{
    return (struct op_field){ .key = key, .type = OP_V_I64, .v.i = v };
}
static inline struct op_field op_f_u64(const char *key, uint64_t v)
{
    return (struct op_field){ .key = key, .type = OP_V_U64, .v.u = v };
}
static inline struct op_field op_f_f64(const char *key, double v)
{
    return (struct op_field){ .key = key, .type = OP_V_F64, .v.f = v };
}
static inline struct op_field op_f_bool(const char *key, bool v)
{
    return (struct op_field){ .key = key, .type = OP_V_BOOL, .v.b = v };
}
static inline struct op_field op_f_str(const char *key, const char *s)
{
    return (struct op_field){ .key = key, .type = OP_V_STR, .v.s = s };
}
static inline struct op_field op_f_nil(const char *key)
{
    return (struct op_field){ .key = key, .type = OP_V_NIL };
}
static inline struct op_field op_f_fn(const char *key, op_val_fn *fn, const void *arg)
{
    return (struct op_field){ .key = key, .type = OP_V_FN, .v.arg = arg, .fn = fn };
}

/* Packs the list (ended by a NULL key) as one map. */
void op_pack_fields(msgpack_packer *pk, const struct op_field *fields);
/* Replies with the list as the data map:
 * op_reply_fields(op, (struct op_field[]){ op_f_u64("now", t), {0} }); */
void op_reply_fields(struct op_ctx *op, const struct op_field *fields);

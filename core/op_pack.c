/* Table-driven reply packing (see op_pack.h). */
#include "core/op_pack.h"

#include <stdlib.h>

#include "core/dbval.h"
#include "core/envelope.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/phone.h"
#include "core/pii.h"

#include <sodium.h>

static void sealed_failed(struct op_ctx *op, const char *what, int64_t row_id)
{
    if (op->env && op->env->metrics) {
        op->env->metrics->sealed_open_failures++; /* classment_sealed_open_failures_total */
    }
    /* Tampered with, or sealed under a key this server lacks: never shown, never fatal. */
    log_event(LOG_ERROR, "op", "sealed value failed to open", "op=%s column=%s row=%lld",
              op->op_name, what, (long long)row_id);
}

static void pack_sealed(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                        const struct op_col *c)
{
    if (PQgetisnull(res, row, c->col)) {
        msgpack_pack_nil(pk);
        return;
    }
    int version = (int)dbval_get_i64(res, row, c->key_col);
    int64_t id = dbval_get_i64(res, row, c->id_col);
    char text[PII_TEXT_MAX + PHONE_MAX + 1];
    int r;
    if (c->type == OP_COL_SEALED_PHONE) {
        r = pii_open_phone(op->env->keys, version, id, res, row, c->col, text);
    } else {
        r = pii_open_text(op->env->keys, version, c->sealed, id, res, row, c->col, text,
                          sizeof text);
    }
    if (r == 0) {
        envelope_pack_str(pk, text);
    } else {
        msgpack_pack_nil(pk);
        sealed_failed(op, c->type == OP_COL_SEALED_PHONE ? "users.phone" : c->sealed, id);
    }
    sodium_memzero(text, sizeof text);
}

static void pack_col(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                     const struct op_col *c)
{
    switch (c->type) {
    case OP_COL_I64:
        dbval_pack_i64(pk, res, row, c->col);
        return;
    case OP_COL_TEXT:
        dbval_pack_text(pk, res, row, c->col);
        return;
    case OP_COL_BOOL:
        envelope_pack_bool(pk, dbval_get_bool(res, row, c->col));
        return;
    case OP_COL_F64:
        if (PQgetisnull(res, row, c->col)) {
            msgpack_pack_nil(pk);
        } else {
            msgpack_pack_double(pk, strtod(PQgetvalue(res, row, c->col), NULL));
        }
        return;
    case OP_COL_SEALED_TEXT:
    case OP_COL_SEALED_PHONE:
        pack_sealed(op, pk, res, row, c);
        return;
    case OP_COL_OBJECT:
        if (PQgetisnull(res, row, c->col)) {
            msgpack_pack_nil(pk);
        } else {
            op_pack_row(op, pk, res, row, c->fields);
        }
        return;
    case OP_COL_FN:
        c->fn(op, pk, res, row, c->col);
        return;
    }
    msgpack_pack_nil(pk); /* an unknown type still packs one value */
}

void op_pack_row(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                 const struct op_col *cols)
{
    size_t n = 0;
    while (cols[n].key) {
        n++;
    }
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        envelope_pack_key(pk, cols[i].key);
        pack_col(op, pk, res, row, &cols[i]);
    }
}

void op_pack_rows(struct op_ctx *op, msgpack_packer *pk, const PGresult *res,
                  const struct op_col *cols, int skip_null_col)
{
    int rows = PQntuples(res);
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        n += skip_null_col < 0 || !PQgetisnull(res, i, skip_null_col);
    }
    msgpack_pack_array(pk, n);
    for (int i = 0; i < rows; i++) {
        if (skip_null_col < 0 || !PQgetisnull(res, i, skip_null_col)) {
            op_pack_row(op, pk, res, i, cols);
        }
    }
}

void op_reply_row(struct op_ctx *op, const PGresult *res, int row, const struct op_col *cols)
{
    op_pack_row(op, op_reply_begin(op), res, row, cols);
    op_reply_end(op);
}

void op_reply_rows(struct op_ctx *op, const PGresult *res, const struct op_col *cols)
{
    op_pack_rows(op, op_reply_begin(op), res, cols, -1);
    op_reply_end(op);
}

void op_pack_fields(msgpack_packer *pk, const struct op_field *fields)
{
    size_t n = 0;
    while (fields[n].key) {
        n++;
    }
    msgpack_pack_map(pk, n);
    for (const struct op_field *f = fields; f->key; f++) {
        envelope_pack_key(pk, f->key);
        switch (f->type) {
        case OP_V_I64:
            msgpack_pack_int64(pk, f->v.i);
            break;
        case OP_V_U64:
            msgpack_pack_uint64(pk, f->v.u);
            break;
        case OP_V_F64:
            msgpack_pack_double(pk, f->v.f);
            break;
        case OP_V_BOOL:
            envelope_pack_bool(pk, f->v.b);
            break;
        case OP_V_STR:
            if (f->v.s) {
                envelope_pack_str(pk, f->v.s);
            } else {
                msgpack_pack_nil(pk);
            }
            break;
        case OP_V_FN:
            f->fn(pk, f->v.arg);
            break;
        default:
            msgpack_pack_nil(pk);
            break;
        }
    }
}

void op_reply_fields(struct op_ctx *op, const struct op_field *fields)
{
    op_pack_fields(op_reply_begin(op), fields);
    op_reply_end(op);
}

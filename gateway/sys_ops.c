/* sys.ping answers from the loop alone; sys.status also times a round trip to the database,
 * so clients and probes can tell "server up" from "server up and able to serve data". */
#include "gateway/sys_ops.h"

#include "core/dbpool.h"

static int op_sys_ping(struct op_ctx *op)
{
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 1);
    envelope_pack_key(pk, "now");
    msgpack_pack_uint64(pk, op_now_ms());
    op_reply_end(op);
    return 0;
}

static void on_status_result(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    double db_ms = (double)(op_mono_ns() - op->start_ns) / 1e6;
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "now");
    msgpack_pack_uint64(pk, op_now_ms());
    envelope_pack_key(pk, "db_ms");
    msgpack_pack_double(pk, db_ms);
    op_reply_end(op);
}

static int op_sys_status(struct op_ctx *op)
{
    if (dbpool_query(op->env->db, "SELECT 1", 0, NULL, on_status_result, op) != 0) {
        op->fail_message = "the database is unavailable";
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

const struct op_def sys_ops[] = {
    { .name = "sys.ping", .fn = op_sys_ping, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = "sys.status", .fn = op_sys_status, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = NULL },
};

/* sys.ping answers from the loop alone; sys.status also times a round trip to the database,
 * so clients and probes can tell "server up" from "server up and able to serve data";
 * sys.schema publishes every op's name, roles and arguments, for clients that build their
 * forms from it. */
#include "gateway/sys_ops.h"

#include "core/op_db.h"
#include "core/op_pack.h"
#include "gateway/router.h"

static int op_sys_ping(struct op_ctx *op)
{
    op_reply_fields(op, (struct op_field[]){ op_f_u64("now", op_now_ms()), { 0 } });
    return 0;
}

static int reply_status(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    double db_ms = (double)(op_mono_ns() - op->start_ns) / 1e6;
    op_reply_fields(op, (struct op_field[]){ op_f_u64("now", op_now_ms()),
                                             op_f_f64("db_ms", db_ms), { 0 } });
    return 0;
}

static int op_sys_status(struct op_ctx *op)
{
    return op_sql(op, &(struct op_sql){ .sql = "SELECT 1", .on_rows = reply_status });
}

/* The schema is packed once, on first use, and kept by the router. */
static int op_sys_schema(struct op_ctx *op)
{
    struct router **router = op->domain;
    size_t len;
    const unsigned char *data = router_schema(*router, &len);
    op_reply_packed(op, data, len);
    return 0;
}

const struct op_def sys_ops[] = {
    { .name = "sys.ping", .fn = op_sys_ping, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = "sys.schema", .fn = op_sys_schema, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = "sys.status", .fn = op_sys_status, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = NULL },
};

/* libFuzzer target: argument-schema validation (core/op_schema.c) as the router runs it
 * (gateway/router.c, router_dispatch): a frame is decoded, its op looked up in the router
 * built from every real op table (gateway/ops.h, ops_tables with no domains: no database),
 * and its args checked against that op's schema. A frame naming no known op is checked
 * against the schema of an op picked from its name's bytes, so that mutations reach every
 * schema. When the check accepts, the handlers' readers (op_get_*) must find what the schema
 * promised: required arguments present, ids positive, numbers finite and within bounds,
 * strings non-empty, within their length and free of NUL bytes. */
#include <math.h>
#include <string.h>

#include "core/envelope.h"
#include "core/op.h"
#include "core/op_schema.h"
#include "gateway/ops.h"
#include "gateway/router.h"
#include "tests/fuzz/fuzz.h"

static struct router *fuzz_router(void)
{
    static struct router *r;
    if (!r) {
        static struct op_table tables[OPS_MAX_TABLES];
        size_t n = ops_tables(NULL, tables);
        r = router_new(tables, n);
        FUZZ_ASSERT(r && router_count(r) > 0);
    }
    return r;
}

/* What the handlers read from accepted top-level arguments. */
static void check_readers(struct op_ctx *op, const struct op_arg *schema)
{
    for (const struct op_arg *a = schema; a && a->name; a++) {
        bool has = op_has_arg(op, a->name);
        if (a->required) {
            FUZZ_ASSERT(has);
        }
        if (!has) {
            continue;
        }
        switch (a->type) {
        case OP_T_ID:
            FUZZ_ASSERT(op_get_id(op, a->name) > 0);
            break;
        case OP_T_INT: {
            int64_t x = op_get_int(op, a->name, 0);
            FUZZ_ASSERT(!(a->min || a->max) || (x >= a->min && x <= a->max));
            break;
        }
        case OP_T_NUM: {
            double x = op_get_num(op, a->name, NAN);
            FUZZ_ASSERT(isfinite(x));
            FUZZ_ASSERT((a->lo == 0 && a->hi == 0) || (x >= a->lo && x <= a->hi));
            break;
        }
        case OP_T_STR: {
            const char *s = op_get_str(op, a->name);
            FUZZ_ASSERT(s && s[0]);
            size_t max = a->max > 0 ? (size_t)a->max : OP_STR_MAX_DEFAULT;
            FUZZ_ASSERT(strlen(s) <= max);
            break;
        }
        case OP_T_ENUM: {
            const char *s = op_get_str(op, a->name);
            bool known = false;
            for (size_t i = 0; s && a->values[i]; i++) {
                known = known || strcmp(s, a->values[i]) == 0;
            }
            FUZZ_ASSERT(known);
            break;
        }
        default:
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > fuzz_config()->max_message_bytes) {
        return 0;
    }
    struct router *r = fuzz_router();
    struct envelope_request req;
    struct envelope_error err;
    if (envelope_decode(&req, data, size, &err) != 0) {
        envelope_request_deinit(&req);
        return 0;
    }
    const struct op_def *def = router_find(r, req.op, req.op_len);
    if (!def) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < req.op_len; i++) {
            h = (h ^ (unsigned char)req.op[i]) * 16777619u;
        }
        def = router_op_at(r, h % router_count(r));
    }
    struct op_ctx op = { .op_name = def->name, .args = req.args };
    int rc = op_schema_check(def->args, req.args, &op.arena, &op.fail_field,
                             &op.fail_message);
    if (rc == 0) {
        check_readers(&op, def->args);
    } else {
        static int verbose = -1; /* FUZZ_VERBOSE=1: say why each refused input was refused */
        if (verbose < 0) {
            verbose = getenv("FUZZ_VERBOSE") != NULL;
        }
        if (verbose) {
            fprintf(stderr, "%s: %s %s\n", def->name, op.fail_field, op.fail_message);
        }
        FUZZ_ASSERT(rc == OP_E_BAD_REQUEST && op.fail_field && op.fail_message);
        FUZZ_ASSERT(strlen(op.fail_message) > 0);
    }
    arena_deinit(&op.arena);
    envelope_request_deinit(&req);
    return 0;
}

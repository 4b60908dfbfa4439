/* student.import: the school's admins import students with their guardians from CSV text.
 * The rows are read and checked by academics/import_rows.c, which the operator's command
 * (classment-admin import students) shares; here they travel over the socket, so a file is
 * at most CLASSMENT_MAX_MESSAGE bytes (64 KiB unless raised; larger files go through the
 * command). A dry run reports every error and writes nothing; a real run writes everything
 * in one statement, or nothing when any row is wrong (the reply is then the same errors).
 *
 * Nothing needs telling the roster afterwards: the students are new, so no bus carries them
 * and no parent's live subscription depends on them; a parent's rights only grow by the new
 * links, and they are asked of the database on each subscription. */
#include "academics/import.h"

#include <errno.h>
#include <string.h>

#include <uv.h>

#include "academics/import_rows.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/op_db.h"

/* The ceiling of CLASSMENT_MAX_MESSAGE (core/config.c): the message limit itself refuses
 * larger requests before they reach the router. */
#define CSV_MAX_BYTES (16 << 20)

/* Reading the file and sealing its values take milliseconds for thousands of rows (about 8
 * and 13 ms for 5,000): they run on libuv's thread pool, so that the loop serving live
 * tracking never waits on them. While a step runs there, nothing else touches the request:
 * the batch and its parameters live in the request's arena, which only that step uses. */
struct import_run {
    struct import_batch b;
    bool dry_run;
    const char *csv;
    const char *default_cc;
    const struct crypto_keys *keys;
    int64_t school_id;
    struct import_params params; /* of the next statement, built off the loop */
    int rc;                      /* of the step off the loop */
    uv_work_t work;
    struct op_ctx *op;
};

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str_with_body(pk, s, n);
}

static void pack_key_i64(msgpack_packer *pk, const char *key, int64_t v)
{
    pack_str(pk, key);
    msgpack_pack_int64(pk, v);
}

/* {rows, created, guardians_created, guardians_linked, dry_run, errors}. Frees op. */
static int reply(struct op_ctx *op)
{
    const struct import_run *run = op->state;
    const struct import_batch *b = &run->b;
    bool clean = b->n_errors == 0;
    bool wrote = clean && !run->dry_run;
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 6);
    pack_key_i64(pk, "rows", (int64_t)b->n_rows);
    /* A clean dry run says what the real run would do. */
    pack_key_i64(pk, "created", wrote ? b->created : clean ? (int64_t)b->n_students : 0);
    pack_key_i64(pk, "guardians_created",
                 wrote ? b->guardians_created : clean ? (int64_t)b->n_new_users : 0);
    pack_key_i64(pk, "guardians_linked",
                 wrote ? b->guardians_linked : clean ? (int64_t)b->n_links : 0);
    pack_str(pk, "dry_run");
    if (run->dry_run) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    pack_str(pk, "errors");
    msgpack_pack_array(pk, (uint32_t)b->n_errors);
    for (size_t i = 0; i < b->n_errors; i++) {
        const struct import_error *e = &b->errors[i];
        msgpack_pack_map(pk, 3);
        pack_key_i64(pk, "row", e->row);
        pack_str(pk, "column");
        pack_str(pk, e->column);
        pack_str(pk, "message");
        pack_str(pk, e->message);
    }
    op_reply_end(op);
    return 0;
}

static void add_params(struct op_ctx *op, struct import_params *p)
{
    for (int i = 0; i < p->n; i++) {
        op_param_str(op, p->v[i]);
    }
    import_params_free(p);
}

/* Another import or an admin got there between the check and the write. */
static const struct op_db_error raced[] = {
    { .cond = OP_DB_UNIQUE, .constraint = IMPORT_ADMISSION_KEY, .code = OP_E_CONFLICT,
      .field = "csv",
      .message = "an admission number of the file was used meanwhile: run the import again" },
    { .cond = OP_DB_UNIQUE, .constraint = IMPORT_PHONE_KEY, .code = OP_E_CONFLICT,
      .field = "csv",
      .message = "a guardian's phone number was registered meanwhile: run the import again" },
    { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_CONFLICT, .field = "csv",
      .message = "a section of the file was deleted meanwhile: run the import again" },
    { .cond = 0 },
};

static int written(struct op_ctx *op, const PGresult *res)
{
    struct import_run *run = op->state;
    import_write_result(&run->b, res);
    audit_op(op, "student_import", run->b.n_students ? run->b.students[0].id : 0, "ok");
    return reply(op);
}

/* Off the loop: the write's parameters (every value sealed to its row). */
static void build_write(uv_work_t *w)
{
    struct import_run *run = w->data;
    import_write_params(&run->b, run->keys, run->school_id, &run->params);
}

static void write_built(uv_work_t *w, int status)
{
    struct import_run *run = w->data;
    struct op_ctx *op = run->op;
    if (status != 0) {
        import_params_free(&run->params);
        op_finish_rc(op, -ECANCELED);
        return;
    }
    add_params(op, &run->params);
    op_finish_rc(op, op_sql(op, &(struct op_sql){ .sql = IMPORT_WRITE_SQL, .on_rows = written,
                                                  .errors = raced }));
}

static int reserved(struct op_ctx *op, const PGresult *res)
{
    struct import_run *run = op->state;
    if (import_reserve_result(&run->b, res) != 0) {
        return -EIO;
    }
    int r = uv_queue_work(op->env->loop, &run->work, build_write, write_built);
    return r < 0 ? r : 0;
}

static int checked(struct op_ctx *op, const PGresult *res)
{
    struct import_run *run = op->state;
    import_check_result(&run->b, res);
    if (!run->dry_run && run->b.n_errors > 0) {
        audit_op(op, "student_import", 0, "bad_request");
    }
    if (run->dry_run || run->b.n_errors > 0 || run->b.n_students == 0) {
        return reply(op);
    }
    struct import_params p = { .n = 0 };
    import_reserve_params(&run->b, &p);
    add_params(op, &p);
    return op_sql(op, &(struct op_sql){ .sql = IMPORT_RESERVE_SQL, .on_rows = reserved });
}

/* Off the loop: the file read and checked, and the check's parameters. */
static void parse(uv_work_t *w)
{
    struct import_run *run = w->data;
    run->rc = import_parse(&run->b, run->csv, strlen(run->csv), run->default_cc);
    if (run->rc == 0 && !run->b.fatal) {
        import_check_params(&run->b, run->keys, run->school_id, &run->params);
    }
}

static void parsed(uv_work_t *w, int status)
{
    struct import_run *run = w->data;
    struct op_ctx *op = run->op;
    if (status != 0 || run->rc != 0) {
        import_params_free(&run->params);
        op_finish_rc(op, status != 0 ? -ECANCELED : -ENOMEM);
        return;
    }
    if (run->b.fatal) {
        if (!run->dry_run) {
            audit_op(op, "student_import", 0, "bad_request");
        }
        reply(op);
        return;
    }
    add_params(op, &run->params);
    op_finish_rc(op, op_sql(op, &(struct op_sql){ .sql = IMPORT_CHECK_SQL, .on_rows = checked }));
}

static int op_student_import(struct op_ctx *op)
{
    struct import_run *run = op->state = op_alloc(op, sizeof *run);
    run->op = op;
    run->work.data = run;
    op_keep_args(op); /* the frame goes when this returns; the next op_sql reads them */
    run->dry_run = op_get_bool(op, "dry_run", false);
    run->csv = op_get_str(op, "csv");
    run->default_cc = op->env->cfg->default_cc;
    run->keys = op->env->keys;
    run->school_id = op->caller.school_id;
    import_init(&run->b, &op->arena);
    int r = uv_queue_work(op->env->loop, &run->work, parse, parsed);
    return r < 0 ? r : 0;
}

static const struct op_arg import_args[] = {
    { .name = "csv", .type = OP_T_STR, .required = OP_REQ, .max = CSV_MAX_BYTES,
      .format = "csv" },
    { .name = "dry_run", .type = OP_T_BOOL },
    { .name = NULL },
};

const struct op_def import_ops[] = {
    { .name = "student.import", .fn = op_student_import, .roles = ROLE_ADMIN,
      .args = import_args },
    { .name = NULL },
};

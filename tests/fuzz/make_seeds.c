/* Writes the seed corpora of tests/fuzz/corpus from the real op tables (not a fuzz target):
 *   make_seeds DIR     fills DIR/envelope, DIR/op_schema and DIR/gps
 * Every op gets one request whose args are valid for its schema (every declared argument
 * given, with a value that suits its type, bounds and format); the envelope corpus adds a few
 * frames the decoder must refuse; the gps corpus holds trip.pos sequences of a bus driving at
 * city speed, with the records layout fuzz_gps.c reads. Run it again when ops change:
 *   ninja -C build-fuzz tests/fuzz/make_seeds && build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus */
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/op.h"
#include "gateway/ops.h"
#include "gateway/router.h"

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_value(msgpack_packer *pk, const struct op_arg *a, int depth);

static void pack_args(msgpack_packer *pk, const struct op_arg *fields, int depth)
{
    size_t n = 0;
    for (const struct op_arg *a = fields; a && a->name; a++) {
        n++;
    }
    msgpack_pack_map(pk, n);
    for (const struct op_arg *a = fields; a && a->name; a++) {
        pack_s(pk, a->name);
        pack_value(pk, a, depth + 1);
    }
}

static void pack_value(msgpack_packer *pk, const struct op_arg *a, int depth)
{
    switch (a->type) {
    case OP_T_ID:
        msgpack_pack_int64(pk, 17);
        return;
    case OP_T_INT: {
        int64_t x = 3;
        if ((a->min || a->max) && (x < a->min || x > a->max)) {
            x = a->min;
        }
        msgpack_pack_int64(pk, x);
        return;
    }
    case OP_T_NUM:
        msgpack_pack_double(pk, (a->lo || a->hi) ? a->lo + (a->hi - a->lo) / 3 : 12.5);
        return;
    case OP_T_BOOL:
        msgpack_pack_true(pk);
        return;
    case OP_T_STR: {
        const char *f = a->format ? a->format : "";
        const char *s = strcmp(f, "date") == 0      ? "2026-12-04"
                        : strcmp(f, "phone") == 0   ? "+919000000003"
                        : strcmp(f, "time") == 0    ? "07:45"
                        : strcmp(f, "YYYY-MM") == 0 ? "2026-12"
                        : strcmp(f, "6 digits") == 0 ? "123456"
                        : strcmp(f, "csv") == 0
                            ? "name,dob,phone\nAsha Rao,2015-06-01,+919000000004\n"
                            : "Asha Rao \xe0\xa4\x85";
        size_t n = strlen(s), max = a->max > 0 ? (size_t)a->max : OP_STR_MAX_DEFAULT;
        n = n > max ? max : n;
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, s, n);
        return;
    }
    case OP_T_ENUM:
        pack_s(pk, a->values[0]);
        return;
    case OP_T_ARRAY:
        if (!a->items || depth > 6) {
            msgpack_pack_array(pk, 0);
            return;
        }
        msgpack_pack_array(pk, 2);
        pack_value(pk, a->items, depth + 1);
        pack_value(pk, a->items, depth + 1);
        return;
    case OP_T_MAP:
        pack_args(pk, depth > 6 ? NULL : a->fields, depth);
        return;
    }
    msgpack_pack_nil(pk);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
}

static void mkdir_p(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: cannot create %s\n", dir);
        exit(1);
    }
}

/* {id, op, args} for one op. */
static void pack_request(msgpack_sbuffer *sb, uint64_t id, const struct op_def *d)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, d->args ? 3 : 2);
    pack_s(&pk, "id");
    msgpack_pack_uint64(&pk, id);
    pack_s(&pk, "op");
    pack_s(&pk, d->name);
    if (d->args) {
        pack_s(&pk, "args");
        pack_args(&pk, d->args, 0);
    }
}

static void pos_frame(msgpack_sbuffer *sb, int64_t trip, double lat, double lon, double ts,
                      bool extras)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pack_s(&pk, "id");
    msgpack_pack_uint64(&pk, 9);
    pack_s(&pk, "op");
    pack_s(&pk, "trip.pos");
    pack_s(&pk, "args");
    msgpack_pack_map(&pk, extras ? 7 : 4);
    pack_s(&pk, "trip");
    msgpack_pack_int64(&pk, trip);
    pack_s(&pk, "lat");
    msgpack_pack_double(&pk, lat);
    pack_s(&pk, "lon");
    msgpack_pack_double(&pk, lon);
    pack_s(&pk, "ts");
    if (extras) {
        msgpack_pack_uint64(&pk, (uint64_t)ts);
        pack_s(&pk, "spd");
        msgpack_pack_double(&pk, 8.5);
        pack_s(&pk, "hdg");
        msgpack_pack_double(&pk, 92.0);
        pack_s(&pk, "acc");
        msgpack_pack_double(&pk, 6.0);
    } else {
        msgpack_pack_double(&pk, ts);
    }
}

/* One gps seed: the clock, then n records of a bus moving east about 9 m/s, every step_ms. */
static void gps_seed(const char *dir, const char *name, int n, int step_ms, bool extras,
                     int ts_skew_ms)
{
    uint64_t now = 1796371200000ull; /* 2026-12-04 07:20 IST */
    unsigned char buf[8192];
    size_t len = 0;
    for (int i = 0; i < 8; i++) {
        buf[len++] = (unsigned char)(now >> (8 * i));
    }
    for (int i = 0; i < n; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        double t = (double)(now + (uint64_t)i * (uint64_t)step_ms) + ts_skew_ms;
        pos_frame(&sb, 4, 12.9716, 77.5946 + i * 0.00008 * step_ms / 1000.0, t, extras);
        int16_t step = (int16_t)(i ? step_ms : 0);
        buf[len++] = (unsigned char)sb.size;
        buf[len++] = (unsigned char)(sb.size >> 8);
        buf[len++] = (unsigned char)step;
        buf[len++] = (unsigned char)((uint16_t)step >> 8);
        memcpy(buf + len, sb.data, sb.size);
        len += sb.size;
        msgpack_sbuffer_destroy(&sb);
    }
    write_file(dir, name, buf, len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    char env_dir[400], schema_dir[400], gps_dir[400];
    snprintf(env_dir, sizeof env_dir, "%s/envelope", argv[1]);
    snprintf(schema_dir, sizeof schema_dir, "%s/op_schema", argv[1]);
    snprintf(gps_dir, sizeof gps_dir, "%s/gps", argv[1]);
    mkdir_p(argv[1]);
    mkdir_p(env_dir);
    mkdir_p(schema_dir);
    mkdir_p(gps_dir);

    static struct op_table tables[OPS_MAX_TABLES];
    struct router *r = router_new(tables, ops_tables(NULL, tables));
    if (!r) {
        return 1;
    }
    for (size_t i = 0; i < router_count(r); i++) {
        const struct op_def *d = router_op_at(r, i);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pack_request(&sb, i + 1, d);
        write_file(schema_dir, d->name, sb.data, sb.size);
        /* the envelope corpus: a sample of ops (every seventh), with and without an id */
        if (i % 7 == 0) {
            write_file(env_dir, d->name, sb.data, sb.size);
        }
        msgpack_sbuffer_destroy(&sb);
    }
    router_free(r);

    /* frames the decoder refuses or reads at its edges */
    static const struct {
        const char *name;
        const char *data;
        size_t len;
    } odd[] = {
        { "no-id", "\x82\xa2op\xa8sys.ping\xa4" "args\xc0", 20 },
        { "id-negative", "\x82\xa2id\xff\xa2op\xa8sys.ping", 18 },
        { "op-missing", "\x81\xa2id\x01", 5 },
        { "args-array", "\x83\xa2id\x01\xa2op\xa8sys.ping\xa4" "args\x91\x01", 24 },
        { "not-a-map", "\x93\x01\x02\x03", 4 },
        { "trailing-bytes", "\x82\xa2id\x01\xa2op\xa8sys.ping\xc0", 19 },
        { "huge-array-count", "\xdd\x7f\xff\xff\xff", 5 },
        { "deep", "\x81\xa1" "a\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
                  "\x91\x91\x91\x01", 22 },
        { "op-with-nul", "\x82\xa2id\x01\xa2op\xa3s\x00p", 13 },
        { "ext-and-bin", "\x83\xa2id\x01\xa2op\xa8sys.ping\xa4" "args\x82\xa1x\xc4\x02zz"
                         "\xa1y\xd4\x01\x02", 35 },
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        write_file(env_dir, odd[i].name, odd[i].data, odd[i].len);
    }

    gps_seed(gps_dir, "drive-2s", 12, 2000, false, 0);
    gps_seed(gps_dir, "drive-1s-extras", 8, 1000, true, -800);
    gps_seed(gps_dir, "too-soon", 4, 200, false, 0);
    gps_seed(gps_dir, "single", 1, 0, true, 0);
    return 0;
}

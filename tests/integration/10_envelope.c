/* The socket API envelope against a real classmentd: hello, replies, failures, error events,
 * hostile frames, size limits, flood protection and the WebSocket handshake (PROTOCOL.md). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

#define MAX_MESSAGE 65536
#define WAIT_MS 5000

static int port_of(void **state)
{
    return harness_port(*state);
}

/* Opens a connection past its hello, failing the test when that does not work. */
static struct wsclient *open_client(void **state)
{
    struct wsclient *c = tclient_open(port_of(state));
    assert_non_null(c);
    return c;
}

static void send_bytes(struct wsclient *c, const void *data, size_t len)
{
    assert_int_equal(wsclient_send(c, WSCLIENT_OP_BINARY, data, len), 0);
}

/* The next message must be an error event with code; returns nothing, fails otherwise. */
static void expect_error_event(struct wsclient *c, const char *code)
{
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_error_event(m, code), m);
    tmsg_free(m);
}

/* Builds {id, op: sys.ping, args: {pad: <bin>}} of exactly total bytes. */
static uint8_t *build_padded_ping(unsigned id, size_t total, size_t *len)
{
    size_t pad = total;
    uint8_t *msg = NULL;
    char *zeros = calloc(1, total);
    /* The bin header grows with the pad, so converge on the size in a few rounds. */
    for (int round = 0; round < 4; round++) {
        free(msg);
        msg = tmsg_build(len, "{id: %u, op: sys.ping, args: {pad: %b}}", id, zeros, pad);
        if (*len == total) {
            break;
        }
        pad = pad + total - *len;
    }
    free(zeros);
    assert_int_equal(*len, total);
    return msg;
}

static void test_connect_receives_hello_event(void **state)
{
    struct wsclient *c = wsclient_new(port_of(state));
    assert_non_null(c);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_event(m, "hello"), m);
    assert_msg(tmsg_str_is(m, "data.server", "classment"), m);
    assert_msg(tmsg_uint_is(m, "data.proto", 1), m);
    assert_msg(tmsg_str_is(m, "data.version", "0.1.0"), m);
    uint64_t heartbeat_s = 0;
    assert_msg(tmsg_uint(m, "data.heartbeat_s", &heartbeat_s) && heartbeat_s > 0, m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_ping_with_id_replies_ok_with_current_time(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{id: 41, op: sys.ping, args: {}}"), 0);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 41), m);
    uint64_t now = 0;
    assert_msg(tmsg_uint(m, "data.now", &now), m);
    uint64_t wall = tsys_wall_ms();
    assert_true(now + 5000 > wall && now < wall + 5000);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_args_may_be_left_out(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{id: 5, op: sys.ping}"), 0);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 5), m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_ids_are_echoed_from_zero_to_uint64_max(void **state)
{
    static const uint64_t ids[] = { 0, 1, 4294967296ull, 9007199254740993ull, UINT64_MAX };
    struct wsclient *c = open_client(state);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        assert_int_equal(tclient_send(c, "{id: %U, op: sys.ping}", ids[i]), 0);
        struct tmsg *m = tclient_recv(c, WAIT_MS);
        assert_msg(tmsg_is_success(m, ids[i]), m);
        tmsg_free(m);
    }
    wsclient_free(c);
    harness_passed(*state);
}

static void test_request_without_id_gets_no_reply(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{op: sys.ping, args: {}}"), 0);
    assert_int_equal(tclient_send(c, "{id: 2, op: sys.ping}"), 0);
    /* Requests on one connection are answered in order, so the fire-and-forget one would
     * have arrived first. */
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 2), m);
    tmsg_free(m);
    assert_true(tclient_quiet(c, 300));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_unknown_op_replies_unknown_op(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{id: 3, op: no.such.op, args: {}}"), 0);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_failure(m, 3, "unknown_op", NULL), m);
    tmsg_free(m);
    assert_true(tclient_ping(c, 4));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_missing_op_replies_bad_request_on_field_op(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{id: 4, args: {}}"), 0);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_failure(m, 4, "bad_request", "op"), m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_op_not_a_string_replies_bad_request_on_field_op(void **state)
{
    static const char *const requests[] = {
        "{id: 10, op: 42}",
        "{id: 11, op: nil}",
        "{id: 12, op: [sys.ping]}",
        "{id: 13, op: {name: sys.ping}}",
        "{id: 14, op: true}",
    };
    struct wsclient *c = open_client(state);
    for (unsigned i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        assert_int_equal(tclient_send(c, requests[i]), 0);
        struct tmsg *m = tclient_recv(c, WAIT_MS);
        assert_msg(tmsg_is_failure(m, 10 + i, "bad_request", "op"), m);
        tmsg_free(m);
    }
    size_t len;
    uint8_t *bin_op = tmsg_build(&len, "{id: 15, op: %b}", "sys.ping", (size_t)8);
    send_bytes(c, bin_op, len);
    free(bin_op);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_failure(m, 15, "bad_request", "op"), m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

/* The entry of sys.schema's data for op, or NULL. */
static const msgpack_object *schema_entry(const struct tmsg *m, const char *op)
{
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) {
        return NULL;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *name = tmsg_get(&list->via.array.ptr[i], "name");
        if (name && name->type == MSGPACK_OBJECT_STR && name->via.str.size == strlen(op) &&
            memcmp(name->via.str.ptr, op, strlen(op)) == 0) {
            return &list->via.array.ptr[i];
        }
    }
    return NULL;
}

/* Before login too: a client builds its forms from this. */
static void test_schema_lists_every_op_with_roles_and_arguments(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{id: 7, op: sys.schema}"), 0);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 7), m);
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    assert_true(list && list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size >= 42);

    const msgpack_object *ping = schema_entry(m, "sys.ping");
    assert_non_null(ping);
    assert_int_equal(tmsg_get(ping, "args")->via.array.size, 0);
    assert_true(tmsg_get(ping, "public")->via.boolean);

    const msgpack_object *create = schema_entry(m, "student.create");
    assert_non_null(create);
    assert_false(tmsg_get(create, "public")->via.boolean);
    const msgpack_object *roles = tmsg_get(create, "roles");
    assert_int_equal(roles->via.array.size, 1);
    assert_memory_equal(roles->via.array.ptr[0].via.str.ptr, "admin", 5);
    const msgpack_object *args = tmsg_get(create, "args");
    assert_true(args->via.array.size >= 2);
    const msgpack_object *first = &args->via.array.ptr[0];
    assert_memory_equal(tmsg_get(first, "name")->via.str.ptr, "name", 4);
    assert_memory_equal(tmsg_get(first, "type")->via.str.ptr, "string", 6);
    assert_true(tmsg_get(first, "required")->via.boolean);
    assert_int_equal(tmsg_get(first, "max_len")->via.u64, 200);
    uint32_t n_ops = list->via.array.size;
    tmsg_free(m);

    /* Asked again: the same answer. */
    assert_int_equal(tclient_send(c, "{id: 8, op: sys.schema}"), 0);
    m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 8), m);
    assert_int_equal(tmsg_get(tmsg_root(m), "data")->via.array.size, n_ops);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

/* Invalid UTF-8 never reaches the database: it is bad_request naming the argument, from the
 * schema check before any handler runs, for declared and undeclared arguments alike. */
static void test_invalid_utf8_in_any_argument_is_bad_request_naming_it(void **state)
{
    struct wsclient *c = open_client(state);
    assert_int_equal(tclient_send(c, "{id: 2, op: auth.otp.request, args: {phone: %s}}",
                                  "\xc3\x28"), 0);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_failure(m, 2, "bad_request", "phone"), m);
    tmsg_free(m);
    assert_int_equal(tclient_send(c, "{id: 3, op: sys.ping, args: {note: [ok, %s]}}",
                                  "\xed\xa0\x80"), 0);
    m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_failure(m, 3, "bad_request", "note[1]"), m);
    tmsg_free(m);
    assert_int_equal(tclient_send(c, "{id: 4, op: sys.ping, args: {note: %s}}", "fine"), 0);
    m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 4), m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_args_not_a_map_replies_bad_request_on_field_args(void **state)
{
    static const char *const requests[] = {
        "{id: 20, op: sys.ping, args: [1, 2]}",
        "{id: 21, op: sys.ping, args: text}",
        "{id: 22, op: sys.ping, args: 5}",
        "{id: 23, op: sys.ping, args: false}",
    };
    struct wsclient *c = open_client(state);
    for (unsigned i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        assert_int_equal(tclient_send(c, requests[i]), 0);
        struct tmsg *m = tclient_recv(c, WAIT_MS);
        assert_msg(tmsg_is_failure(m, 20 + i, "bad_request", "args"), m);
        tmsg_free(m);
    }
    wsclient_free(c);
    harness_passed(*state);
}

static void test_wrong_typed_id_gets_error_event(void **state)
{
    static const char *const requests[] = {
        "{id: \"7\", op: sys.ping}",
        "{id: -1, op: sys.ping}",
        "{id: 1.5, op: sys.ping}",
        "{id: {n: 1}, op: sys.ping}",
    };
    struct wsclient *c = open_client(state);
    for (unsigned i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        assert_int_equal(tclient_send(c, requests[i]), 0);
        struct tmsg *m = tclient_recv(c, WAIT_MS);
        assert_msg(tmsg_is_error_event(m, "bad_request"), m);
        assert_msg(!tmsg_has(m, "id"), m);
        tmsg_free(m);
    }
    assert_true(tclient_ping(c, 8));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_text_frame_gets_error_event_and_connection_stays_open(void **state)
{
    struct wsclient *c = open_client(state);
    const char *json = "{\"id\":1,\"op\":\"sys.ping\"}";
    assert_int_equal(wsclient_send(c, WSCLIENT_OP_TEXT, json, strlen(json)), 0);
    expect_error_event(c, "bad_request");
    const char *word = "sys.ping";
    assert_int_equal(wsclient_send(c, WSCLIENT_OP_TEXT, word, strlen(word)), 0);
    expect_error_event(c, "bad_request");
    assert_true(tclient_ping(c, 3));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_text_frame_with_invalid_utf8_gets_error_event_or_close_1007(void **state)
{
    /* msgpack is rarely valid UTF-8. RFC 6455 8.1 lets the server fail the connection with
     * 1007 for that; the protocol's error event is fine too. Nothing else is. */
    struct wsclient *c = open_client(state);
    size_t len;
    uint8_t *ping = tmsg_build(&len, "{id: 2, op: sys.ping}");
    assert_int_equal(wsclient_send(c, WSCLIENT_OP_TEXT, ping, len), 0);
    free(ping);
    struct wsclient_msg msg;
    assert_int_equal(wsclient_recv(c, &msg, WAIT_MS), 0);
    if (msg.opcode == WSCLIENT_OP_CLOSE) {
        assert_int_equal(msg.close_code, 1007);
    } else {
        struct tmsg *m = tmsg_decode(msg.data, msg.len);
        assert_msg(tmsg_is_error_event(m, "bad_request"), m);
        tmsg_free(m);
        assert_true(tclient_ping(c, 3));
    }
    wsclient_msg_deinit(&msg);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_non_map_frame_gets_error_event(void **state)
{
    static const char *const frames[] = { "[1, 2, 3]", "42", "\"sys.ping\"", "nil" };
    struct wsclient *c = open_client(state);
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        assert_int_equal(tclient_send(c, frames[i]), 0);
        expect_error_event(c, "bad_request");
    }
    assert_true(tclient_ping(c, 1));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_malformed_msgpack_gets_error_event(void **state)
{
    /* {id: 1, op: "sys.ping"} is 82 a2 69 64 01 a2 6f 70 a8 73 79 73 2e 70 69 6e 67. */
    static const uint8_t truncated[] = { 0x82, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6f, 0x70, 0xa8,
                                         0x73, 0x79, 0x73 };
    static const uint8_t invalid[] = { 0xc1 };
    static const uint8_t trailing[] = { 0x82, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6f, 0x70, 0xa8,
                                        0x73, 0x79, 0x73, 0x2e, 0x70, 0x69, 0x6e, 0x67, 0x00 };
    struct wsclient *c = open_client(state);
    send_bytes(c, truncated, sizeof truncated);
    expect_error_event(c, "bad_request");
    send_bytes(c, invalid, sizeof invalid);
    expect_error_event(c, "bad_request");
    send_bytes(c, trailing, sizeof trailing);
    expect_error_event(c, "bad_request");
    send_bytes(c, "", 0);
    expect_error_event(c, "bad_request");
    assert_true(tclient_ping(c, 1));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_hostile_container_count_gets_error_event_and_server_stays_small(void **state)
{
    static const uint8_t array32[] = { 0xdd, 0x0f, 0xff, 0xff, 0xff };
    static const uint8_t map32[] = { 0xdf, 0x0f, 0xff, 0xff, 0xff };
    /* {id: 1, op: sys.ping, args: {a: <array32 of 268M>}}: hostile deep inside a request. */
    static const uint8_t nested[] = { 0x83, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6f, 0x70, 0xa8,
                                      0x73, 0x79, 0x73, 0x2e, 0x70, 0x69, 0x6e, 0x67, 0xa4,
                                      0x61, 0x72, 0x67, 0x73, 0x81, 0xa1, 0x61, 0xdd, 0xff,
                                      0xff, 0xff, 0xff };
    struct wsclient *bystander = open_client(state);
    struct wsclient *c = open_client(state);
    send_bytes(c, array32, sizeof array32);
    expect_error_event(c, "bad_request");
    send_bytes(c, map32, sizeof map32);
    expect_error_event(c, "bad_request");
    send_bytes(c, nested, sizeof nested);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    /* The frame never decoded, so there is no id to answer: an error event. A reply to id 1
     * would mean the server unpacked it. */
    assert_msg(tmsg_is_error_event(m, "bad_request") || tmsg_is_failure(m, 1, "bad_request",
                                                                          NULL), m);
    tmsg_free(m);
    assert_true(tclient_ping(c, 2));
    assert_true(tclient_ping(bystander, 3));
    long peak_kb = harness_peak_rss_kb(*state);
    fprintf(stderr, "server peak RSS after hostile counts: %ld KiB\n", peak_kb);
    assert_true(peak_kb > 0 && peak_kb < 128 * 1024);
    wsclient_free(c);
    wsclient_free(bystander);
    harness_passed(*state);
}

static void test_deep_nesting_gets_error_event(void **state)
{
    /* {id: 1, op: sys.ping, args: {a: [[[...100 levels...]]]}} */
    uint8_t frame[128 + 100];
    static const uint8_t head[] = { 0x83, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6f, 0x70, 0xa8, 0x73,
                                    0x79, 0x73, 0x2e, 0x70, 0x69, 0x6e, 0x67, 0xa4, 0x61, 0x72,
                                    0x67, 0x73, 0x81, 0xa1, 0x61 };
    size_t len = sizeof head;
    memcpy(frame, head, len);
    for (int i = 0; i < 99; i++) {
        frame[len++] = 0x91;   /* array of one */
    }
    frame[len++] = 0x90;       /* the innermost, empty */
    struct wsclient *c = open_client(state);
    send_bytes(c, frame, len);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_error_event(m, "bad_request") || tmsg_is_failure(m, 1, "bad_request",
                                                                          NULL), m);
    tmsg_free(m);
    /* Maps nested as deep from the top: {a: {a: ... {} }}. */
    uint8_t maps[3 * 100];
    len = 0;
    for (int i = 0; i < 99; i++) {
        maps[len++] = 0x81;
        maps[len++] = 0xa1;
        maps[len++] = 'a';
    }
    maps[len++] = 0x80;
    send_bytes(c, maps, len);
    expect_error_event(c, "bad_request");
    assert_true(tclient_ping(c, 2));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_message_over_limit_gets_too_large_error_event(void **state)
{
    struct wsclient *bystander = open_client(state);
    struct wsclient *c = open_client(state);
    size_t len;
    uint8_t *msg = build_padded_ping(1, MAX_MESSAGE + 1, &len);
    send_bytes(c, msg, len);
    free(msg);
    expect_error_event(c, "too_large");
    assert_true(tclient_ping(bystander, 2));
    wsclient_free(c);
    wsclient_free(bystander);
    harness_passed(*state);
}

static void test_message_at_limit_is_answered(void **state)
{
    struct wsclient *c = open_client(state);
    size_t len;
    uint8_t *msg = build_padded_ping(9, MAX_MESSAGE, &len);
    send_bytes(c, msg, len);
    free(msg);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    /* sys.ping takes no arguments: a reply either way shows the message was accepted. */
    assert_msg(tmsg_is_success(m, 9) || tmsg_uint_is(m, "id", 9), m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_fragments_adding_up_over_limit_get_too_large_error_event(void **state)
{
    struct wsclient *c = open_client(state);
    size_t len;
    uint8_t *msg = build_padded_ping(1, MAX_MESSAGE + 4096, &len);
    assert_int_equal(wsclient_send_fragmented(c, WSCLIENT_OP_BINARY, msg, len, 5), 0);
    free(msg);
    expect_error_event(c, "too_large");
    wsclient_free(c);
    harness_passed(*state);
}

static void test_frame_announcing_100mb_is_refused_without_buffering(void **state)
{
    struct wsclient *bystander = open_client(state);
    struct wsclient *c = open_client(state);
    long rss_before_kb = harness_peak_rss_kb(*state);
    static const uint8_t mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    uint8_t header[14];
    size_t header_len = wsclient_put_header(header, true, WSCLIENT_OP_BINARY, mask, 100ull << 20);
    assert_int_equal(wsclient_send_raw(c, header, header_len), 0);
    /* Stream up to 24 MiB of the payload. A server that buffers it grows by that much; one
     * that discards it or closes the connection does not. It may also stop reading, which
     * ends the stream with a send timeout. */
    size_t chunk = 1 << 20, sent = 0;
    uint8_t *junk = calloc(1, chunk);
    while (sent < (24u << 20)) {
        if (wsclient_send_raw(c, junk, chunk) != 0) {
            break;
        }
        sent += chunk;
    }
    free(junk);
    fprintf(stderr, "streamed %zu MiB of the announced 100 MiB\n", sent >> 20);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_error_event(m, "too_large"), m);
    tmsg_free(m);
    assert_true(tclient_ping(bystander, 1));
    long rss_after_kb = harness_peak_rss_kb(*state);
    fprintf(stderr, "server peak RSS %ld KiB before, %ld KiB after\n", rss_before_kb,
            rss_after_kb);
    assert_true(rss_after_kb > 0 && rss_after_kb - rss_before_kb < 16 * 1024);
    wsclient_free(c);
    wsclient_free(bystander);
    harness_passed(*state);
}

static void test_fragmented_request_is_answered(void **state)
{
    struct wsclient *c = open_client(state);
    size_t len;
    uint8_t *msg = tmsg_build(&len, "{id: 77, op: sys.ping, args: {}}");
    assert_int_equal(wsclient_send_fragmented(c, WSCLIENT_OP_BINARY, msg, len, 3), 0);
    free(msg);
    struct tmsg *m = tclient_recv(c, WAIT_MS);
    assert_msg(tmsg_is_success(m, 77), m);
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_thirty_bad_frames_do_not_close_the_connection(void **state)
{
    static const uint8_t invalid[] = { 0xc1 };
    struct wsclient *c = open_client(state);
    for (int i = 0; i < 30; i++) {
        send_bytes(c, invalid, sizeof invalid);
    }
    /* Error events may arrive first; the ping reply must follow and no close. */
    assert_true(tclient_ping(c, 1));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_more_than_thirty_bad_frames_close_the_connection_with_1008(void **state)
{
    static const uint8_t invalid[] = { 0xc1 };
    struct wsclient *bystander = open_client(state);
    struct wsclient *c = open_client(state);
    for (int i = 0; i < 31; i++) {
        send_bytes(c, invalid, sizeof invalid);
    }
    int code = -1;
    assert_int_equal(tclient_wait_close(c, 10000, &code, NULL), 0);
    assert_int_equal(code, 1008);
    assert_true(tclient_ping(bystander, 1));
    wsclient_free(c);
    wsclient_free(bystander);
    harness_passed(*state);
}

static void test_error_events_are_rate_limited(void **state)
{
    static const uint8_t invalid[] = { 0xc1 };
    struct wsclient *c = open_client(state);
    for (int i = 0; i < 20; i++) {
        send_bytes(c, invalid, sizeof invalid);
    }
    /* Count what arrives in the next second: at most a few per second may be sent. */
    int n_events = 0;
    uint64_t deadline = tsys_mono_ms() + 1000;
    for (;;) {
        struct wsclient_msg msg;
        int r = wsclient_recv(c, &msg, tsys_left_ms(deadline));
        if (r == -ETIMEDOUT) {
            break;
        }
        assert_int_equal(r, 0);
        assert_int_equal(msg.opcode, WSCLIENT_OP_BINARY);
        struct tmsg *m = tmsg_decode(msg.data, msg.len);
        assert_msg(tmsg_is_error_event(m, "bad_request"), m);
        tmsg_free(m);
        wsclient_msg_deinit(&msg);
        n_events++;
    }
    fprintf(stderr, "20 bad frames gave %d error events in the first second\n", n_events);
    assert_true(n_events >= 1 && n_events <= 6);
    assert_true(tclient_ping(c, 1));
    wsclient_free(c);
    harness_passed(*state);
}

static void test_fifty_bad_frames_give_few_error_events_then_close_1008(void **state)
{
    static const uint8_t invalid[] = { 0xc1 };
    struct wsclient *c = open_client(state);
    int n_sent = 0;
    for (int i = 0; i < 50; i++) {
        /* The server may close after the 31st: later sends are allowed to fail. */
        if (wsclient_send(c, WSCLIENT_OP_BINARY, invalid, sizeof invalid) != 0) {
            break;
        }
        n_sent++;
    }
    assert_true(n_sent > 30);
    int code = -1, n_events = 0;
    assert_int_equal(tclient_wait_close(c, 10000, &code, &n_events), 0);
    fprintf(stderr, "%d bad frames gave %d error events, then close %d\n", n_sent, n_events,
            code);
    assert_true(n_events < 50);
    assert_true(n_events <= 10);
    assert_int_equal(code, 1008);
    wsclient_free(c);
    harness_passed(*state);
}

/* The handshake must fail: an HTTP status other than 101, or a closed connection. */
static void assert_handshake_refused(int port, const char *path, const char *protocol)
{
    struct wsclient *c = NULL;
    int r = wsclient_connect(&c, port, path, protocol, WAIT_MS);
    wsclient_free(c);
    if (!(r > 0 || r == -ECONNRESET)) {
        fail_msg("upgrade at %s with protocol %s was not refused (result %d: %s)", path,
                 protocol ? protocol : "(none)", r, r == 0 ? "accepted" : strerror(-r));
    }
}

static void test_handshake_without_subprotocol_is_refused(void **state)
{
    struct wsclient *bystander = open_client(state);
    assert_handshake_refused(port_of(state), "/v1/ws", NULL);
    assert_true(tclient_ping(bystander, 1));
    wsclient_free(bystander);
    harness_passed(*state);
}

static void test_handshake_with_wrong_subprotocol_is_refused(void **state)
{
    assert_handshake_refused(port_of(state), "/v1/ws", "classment.v2");
    assert_handshake_refused(port_of(state), "/v1/ws", "chat");
    harness_passed(*state);
}

static void test_handshake_on_other_path_is_refused(void **state)
{
    assert_handshake_refused(port_of(state), "/", "classment.v1");
    assert_handshake_refused(port_of(state), "/v1/wss", "classment.v1");
    assert_handshake_refused(port_of(state), "/v2/ws", "classment.v1");
    assert_handshake_refused(port_of(state), "/healthz", "classment.v1");
    struct wsclient *c = open_client(state);
    assert_true(tclient_ping(c, 1));
    wsclient_free(c);
    harness_passed(*state);
}

#define SERVER_TEST(fn) cmocka_unit_test_setup_teardown(fn, harness_setup, harness_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SERVER_TEST(test_connect_receives_hello_event),
        SERVER_TEST(test_ping_with_id_replies_ok_with_current_time),
        SERVER_TEST(test_args_may_be_left_out),
        SERVER_TEST(test_ids_are_echoed_from_zero_to_uint64_max),
        SERVER_TEST(test_request_without_id_gets_no_reply),
        SERVER_TEST(test_unknown_op_replies_unknown_op),
        SERVER_TEST(test_missing_op_replies_bad_request_on_field_op),
        SERVER_TEST(test_op_not_a_string_replies_bad_request_on_field_op),
        SERVER_TEST(test_args_not_a_map_replies_bad_request_on_field_args),
        SERVER_TEST(test_schema_lists_every_op_with_roles_and_arguments),
        SERVER_TEST(test_invalid_utf8_in_any_argument_is_bad_request_naming_it),
        SERVER_TEST(test_wrong_typed_id_gets_error_event),
        SERVER_TEST(test_text_frame_gets_error_event_and_connection_stays_open),
        SERVER_TEST(test_text_frame_with_invalid_utf8_gets_error_event_or_close_1007),
        SERVER_TEST(test_non_map_frame_gets_error_event),
        SERVER_TEST(test_malformed_msgpack_gets_error_event),
        SERVER_TEST(test_hostile_container_count_gets_error_event_and_server_stays_small),
        SERVER_TEST(test_deep_nesting_gets_error_event),
        SERVER_TEST(test_message_over_limit_gets_too_large_error_event),
        SERVER_TEST(test_message_at_limit_is_answered),
        SERVER_TEST(test_fragments_adding_up_over_limit_get_too_large_error_event),
        SERVER_TEST(test_frame_announcing_100mb_is_refused_without_buffering),
        SERVER_TEST(test_fragmented_request_is_answered),
        SERVER_TEST(test_thirty_bad_frames_do_not_close_the_connection),
        SERVER_TEST(test_more_than_thirty_bad_frames_close_the_connection_with_1008),
        SERVER_TEST(test_error_events_are_rate_limited),
        SERVER_TEST(test_fifty_bad_frames_give_few_error_events_then_close_1008),
        SERVER_TEST(test_handshake_without_subprotocol_is_refused),
        SERVER_TEST(test_handshake_with_wrong_subprotocol_is_refused),
        SERVER_TEST(test_handshake_on_other_path_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

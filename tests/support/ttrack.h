/* Live-tracking helpers for integration tests: load fixtures with classment-fixture (env
 * CLASSMENT_FIXTURE_BIN), users with a session written straight into the server's database,
 * a client that keeps the events it sees while it waits for a reply (so a test can ask
 * something and still check every trip.pos that arrived meanwhile), and a bare connection with
 * a small receive window for a subscriber that stops reading. Every wait has a timeout. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tmsg.h"
#include "tests/support/wsclient.h"

/* ---- fixtures ---- */

struct ttrack_member {
    char token[TAUTH_TOKEN_MAX + 1];
    int64_t trip;
};

/* What `classment-fixture load` made: one school, a driver per trip, S parents per trip (parent
 * i of a trip has one child boarding at stop i % 6 of that trip's route). */
struct ttrack_fixture {
    int64_t school;
    struct ttrack_member *drivers;  /* one per trip, in trip order */
    size_t n_drivers;
    struct ttrack_member *parents;  /* S per trip, trip by trip */
    size_t n_parents;
};

/* Runs classment-fixture load --trips trips --parents parents against the harness's database
 * and key file, and parses what it printed. Returns 0, or -1 after printing why. */
int ttrack_fixture_load(const struct harness *h, int trips, int parents,
                        struct ttrack_fixture *out);
/* The same against any database and key file (a test's own cluster). */
int ttrack_fixture_load_at(const char *conninfo, const char *key_path, int port, int trips,
                           int parents, struct ttrack_fixture *out);
void ttrack_fixture_deinit(struct ttrack_fixture *f);

/* Inserts a user of role in school (phone fields are random bytes: the trip ops never open
 * them) and a session for it; copies the session's token into token. Returns the user id, or
 * -1 after printing why. */
int64_t ttrack_user_create(const struct harness *h, int64_t school, const char *role,
                           const char *name, char token[TAUTH_TOKEN_MAX + 1]);

/* ---- a client that keeps its events ---- */

struct ttrack_client;

/* Connects and takes the hello. name labels the client in messages. NULL after printing why. */
struct ttrack_client *ttrack_connect(int port, const char *name);
/* ttrack_connect, then auth.resume {token}, which must succeed. NULL after printing why. */
struct ttrack_client *ttrack_login(int port, const char *token, const char *name);
void ttrack_client_free(struct ttrack_client *c);
struct wsclient *ttrack_ws(struct ttrack_client *c);
const char *ttrack_name(const struct ttrack_client *c);

/* Like tauth_call, but events that arrive before the reply are kept for ttrack_event. */
struct tmsg *ttrack_call(struct ttrack_client *c, const char *op, const char *args_fmt, ...);

/* trip.pos {trip, lat, lon, ts} without an id (how drivers send). Returns 0 or a negative
 * errno. */
int ttrack_pos(struct ttrack_client *c, int64_t trip, double lat, double lon, int64_t ts);
/* The same with an id; returns the reply (NULL when none came). */
struct tmsg *ttrack_pos_call(struct ttrack_client *c, int64_t trip, double lat, double lon,
                             int64_t ts);

/* The first kept event named ev (removed from the kept ones), or else the next one to arrive
 * within timeout_ms; other events that arrive meanwhile are kept. NULL on timeout or when the
 * connection ends. */
struct tmsg *ttrack_event(struct ttrack_client *c, const char *ev, int timeout_ms);
/* Reads everything that arrives within ms and keeps the events. Returns false when a close
 * frame or the end of the connection was seen. */
bool ttrack_collect(struct ttrack_client *c, int ms);
/* Reads and keeps events until nothing arrives for quiet_ms (at most max_ms in all). Returns
 * false when a close frame or the end of the connection was seen. */
bool ttrack_settle(struct ttrack_client *c, int quiet_ms, int max_ms);
/* How many kept events are named ev (any name when ev is NULL). */
size_t ttrack_count(const struct ttrack_client *c, const char *ev);
/* Takes every kept event named ev, in arrival order, in one pass: *out (free it, and each
 * message) gets them; returns how many. For tens of thousands of events, where taking them one
 * by one with ttrack_event would cost time in proportion to the square of their number. */
size_t ttrack_take_all(struct ttrack_client *c, const char *ev, struct tmsg ***out);
/* Kept events named ev, oldest first: the i-th one (borrowed; NULL past the end). */
const struct tmsg *ttrack_kept(const struct ttrack_client *c, const char *ev, size_t i);
/* True when every kept event is named one of allowed (NULL-terminated); prints the others. */
bool ttrack_only(const struct ttrack_client *c, const char *const *allowed);
/* Forgets the kept events. */
void ttrack_clear(struct ttrack_client *c);

/* ---- a subscriber that stops reading ---- */

/* A bare WebSocket connection to /v1/ws whose socket receive buffer is set before it connects
 * (so the window it offers stays small), for a client that stops reading: the server's writes
 * to it block soon. */
struct ttrack_raw;

/* Connects, upgrades and takes the hello. NULL after printing why. */
struct ttrack_raw *ttrack_raw_connect(int port, int rcvbuf_bytes);
void ttrack_raw_free(struct ttrack_raw *r);
/* Sends one message built with tmsg_build's format as a masked binary frame. 0 or -errno. */
int ttrack_raw_send(struct ttrack_raw *r, const char *fmt, ...);
/* The next message within timeout_ms, decoded; NULL on timeout, on a close frame (see
 * ttrack_raw_close_code) or when the connection ends. */
struct tmsg *ttrack_raw_recv(struct ttrack_raw *r, int timeout_ms);
/* The close code the server sent (0 when none, -1 when the connection just ended). */
int ttrack_raw_close_code(const struct ttrack_raw *r);

/* ---- reading messages ---- */

/* A number at path (integer or float) as a double; false when missing or not a number. */
bool ttrack_num(const struct tmsg *m, const char *path, double *out);
/* The same on any msgpack object. */
bool ttrack_obj_num(const msgpack_object *o, double *out);
/* An integer id at path; -1 when missing. */
int64_t ttrack_id(const struct tmsg *m, const char *path);

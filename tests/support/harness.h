/* Runs classmentd for one integration test: a fresh database cloned from the test template,
 * a free port, a private temp directory with the server log, start-up until /healthz answers,
 * SIGTERM and the exit status at the end. Also a small blocking HTTP GET. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct harness_opts {
    const char *const *env;   /* extra "NAME=value" for the server, NULL-terminated; or NULL */
    const char *db_conninfo;  /* a database to use instead of a fresh clone of the template */
    bool valgrind;            /* run the server under valgrind (leak check, --error-exitcode=99) */
    bool no_outbox;           /* leave CLASSMENT_SMS_OUTBOX unset (to test another SMS backend) */
};

struct harness;

/* Starts classmentd (env CLASSMENT_BIN) with CLASSMENT_LISTEN, _DB, _LOG=debug, _SMS_OUTBOX
 * (unless opts->no_outbox), _ENV=development and _KEY_FILE (in the temp directory) set, then
 * opts->env, and waits until GET /healthz answers 200 (15 s, or 60 s under valgrind). Needs
 * CLASSMENT_TEST_PGHOST, _PGPORT, _PGUSER and _TEMPLATE unless opts->db_conninfo is given; a
 * missing variable is reported loudly and fails the start. opts may be NULL. Returns 0 with
 * *out set, or a negative errno after printing why (and the server log). */
int harness_start(struct harness **out, const struct harness_opts *opts);

/* Marks the test as passed: harness_free then removes the log quietly. Without it,
 * harness_free prints the server log and keeps the temp directory for a look. */
void harness_passed(struct harness *h);

/* Kills the server if it still runs, drops the database, removes the temp directory (see
 * harness_passed) and frees h. harness_free(NULL) does nothing. */
void harness_free(struct harness *h);

int harness_port(const struct harness *h);
pid_t harness_pid(const struct harness *h);
/* The server's stderr and stdout (and valgrind's report), and the SMS outbox file. */
const char *harness_log_path(const struct harness *h);
const char *harness_outbox_path(const struct harness *h);
/* The server's master key file (CLASSMENT_KEY_FILE; created by the server at start-up in
 * development mode), for classment-admin and for opening what the server sealed. */
const char *harness_key_path(const struct harness *h);
/* The libpq connection string of the server's database (CLASSMENT_DB). */
const char *harness_conninfo(const struct harness *h);
/* Prints the server log to stderr. */
void harness_print_log(const struct harness *h);

/* Sends sig to the server. Returns 0 or a negative errno. */
int harness_kill(struct harness *h, int sig);

/* Waits up to timeout_ms for the server to exit. Returns the exit code, 128 + the signal that
 * killed it, or -ETIMEDOUT (the server keeps running). */
int harness_wait(struct harness *h, int timeout_ms);

/* Sends SIGTERM and waits up to timeout_ms. Returns the exit code, 128 + the signal that
 * killed it, or -ETIMEDOUT (the server is then killed with SIGKILL). */
int harness_stop(struct harness *h, int timeout_ms);

/* The server's peak resident memory (VmHWM) in KiB, or -1 when it cannot be read. */
long harness_peak_rss_kb(const struct harness *h);

/* GET path from 127.0.0.1:port; path is sent exactly as given. Returns 0 with *status and
 * *body (NUL-terminated, caller frees; body may be NULL to ignore it), or a negative errno.
 * Understands Content-Length, chunked encoding and read-to-close. */
int harness_http_get(int port, const char *path, int timeout_ms, int *status, char **body);
/* The same with headers ("Name: value\r\n" lines, or NULL) added to the request; *head, when
 * head is not NULL, gets the status line and headers, each line ending in \r\n (caller frees). */
int harness_http_request(int port, const char *path, const char *headers, int timeout_ms,
                         int *status, char **head, char **body);

/* Raises this process's open-file limit to at least n (children inherit it). Returns 0 or a
 * negative errno. */
int harness_raise_fd_limit(long n);

/* cmocka-style setup and teardown: start a default server into *state, and free it. */
int harness_setup(void **state);
int harness_teardown(void **state);

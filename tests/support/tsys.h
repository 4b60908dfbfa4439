/* Small system helpers shared by the integration test support code: clocks, files, child
 * processes with deadlines. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Monotonic milliseconds, for deadlines. */
uint64_t tsys_mono_ms(void);
/* Wall-clock milliseconds since the Unix epoch, to compare with server timestamps. */
uint64_t tsys_wall_ms(void);
/* Sleeps ms milliseconds. */
void tsys_sleep_ms(int ms);
/* Milliseconds left before deadline (a tsys_mono_ms value), never negative, at most INT_MAX. */
int tsys_left_ms(uint64_t deadline);

/* Reads a whole file; returns a NUL-terminated buffer the caller frees, or NULL. */
char *tsys_read_file(const char *path, size_t *len);
/* Removes path and everything under it. Returns 0 or a negative errno. */
int tsys_rmtree(const char *path);

/* Waits up to timeout_ms for pid to exit. Returns its exit code, 128 + the signal that killed
 * it, or -ETIMEDOUT (the child is left running). */
int tsys_wait_pid(pid_t pid, int timeout_ms);

/* Runs argv (argv[0] is looked up in PATH) with stdout and stderr appended to log_path
 * (or inherited when NULL) and stdin from /dev/null. Kills it after timeout_ms. Returns the
 * exit code, 128 + signal, -ETIMEDOUT or a negative errno. */
int tsys_run(const char *const *argv, const char *log_path, int timeout_ms);

/* Prints path to stderr between marker lines; only its last max_bytes when it is longer. */
void tsys_print_file(const char *title, const char *path, size_t max_bytes);

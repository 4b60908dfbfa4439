/* Clocks, files and child processes for the integration test support library. */
#include "tests/support/tsys.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t tsys_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

uint64_t tsys_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void tsys_sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int tsys_left_ms(uint64_t deadline)
{
    uint64_t now = tsys_mono_ms();
    if (now >= deadline) {
        return 0;
    }
    uint64_t left = deadline - now;
    return left > INT_MAX ? INT_MAX : (int)left;
}

char *tsys_read_file(const char *path, size_t *len)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        goto out;
    }
    size_t cap = 4096, n = 0;
    buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
out:
    if (f) {
        fclose(f);
    }
    return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -errno;
}

int tsys_rmtree(const char *path)
{
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tsys_wait_pid(pid_t pid, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(status)) {
                return WEXITSTATUS(status);
            }
            return 128 + WTERMSIG(status);
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
        if (tsys_left_ms(deadline) == 0) {
            return -ETIMEDOUT;
        }
        tsys_sleep_ms(10);
    }
}

int tsys_run(const char *const *argv, const char *log_path, int timeout_ms)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        /* Never outlive the test, even when it crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) {
            dup2(in, 0);
        }
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int r = tsys_wait_pid(pid, timeout_ms);
    if (r == -ETIMEDOUT) {
        kill(pid, SIGKILL);
        tsys_wait_pid(pid, 5000);
    }
    return r;
}

void tsys_print_file(const char *title, const char *path, size_t max_bytes)
{
    size_t len = 0;
    char *text = tsys_read_file(path, &len);
    fprintf(stderr, "----- %s (%s) -----\n", title, path);
    if (!text) {
        fprintf(stderr, "(cannot read: %s)\n", strerror(errno));
    } else {
        const char *start = text;
        if (len > max_bytes) {
            start = text + len - max_bytes;
            fprintf(stderr, "[... first %zu bytes left out ...]\n", len - max_bytes);
        }
        fputs(start, stderr);
        if (len > 0 && text[len - 1] != '\n') {
            fputc('\n', stderr);
        }
    }
    fprintf(stderr, "----- end of %s -----\n", title);
    free(text);
}

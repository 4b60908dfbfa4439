/* Starts and stops classmentd for integration tests, each on its own database cloned from a
 * template and its own port, and speaks just enough HTTP to ask it /healthz. */
#include "tests/support/harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "tests/support/testdb.h"
#include "tests/support/tsys.h"

#define START_TIMEOUT_MS 15000
#define START_TIMEOUT_VALGRIND_MS 60000

struct harness {
    pid_t pid;            /* 0 once reaped */
    bool started;         /* a server was started, so there is a log to show */
    int port;
    bool passed;
    char dir[64];
    char log_path[96];
    char outbox_path[96];
    char key_path[96];
    struct testdb db;     /* zeroed when the caller gave a database */
    char conninfo[1024];
};

/* Asks the kernel for a free port by binding port 0. Another process could take it before
 * the server binds it, which is unlikely enough on a test machine. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof sa;
    int r;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &sa_len) != 0) {
        r = -errno;
    } else {
        r = ntohs(sa.sin_port);
    }
    close(fd);
    return r;
}

static void set_env(const char *name, const char *value)
{
    if (value) {
        setenv(name, value, 1);
    }
}

/* In the child: environment, output, exec. Never returns. */
static void exec_server(const struct harness *h, const struct harness_opts *opts,
                        const char *bin)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive a crashed test */
    signal(SIGPIPE, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    int log = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || log < 0) {
        _exit(126);
    }
    dup2(in, 0);
    dup2(log, 1);
    dup2(log, 2);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", h->port);
    set_env("CLASSMENT_LISTEN", listen);
    set_env("CLASSMENT_DB", h->conninfo);
    set_env("CLASSMENT_LOG", "debug");
    if (!opts->no_outbox) {
        set_env("CLASSMENT_SMS_OUTBOX", h->outbox_path);
    }
    /* Development mode creates the missing master key file, here private to this server. */
    set_env("CLASSMENT_ENV", "development");
    set_env("CLASSMENT_KEY_FILE", h->key_path);
    for (const char *const *e = opts->env; e && *e; e++) {
        char *kv = strdup(*e);
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = '\0';
            setenv(kv, eq + 1, 1);
        }
        free(kv);
    }
    if (opts->valgrind) {
        const char *argv[] = {
            "valgrind", "--quiet", "--leak-check=full", "--error-exitcode=99",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--num-callers=30", bin, NULL,
        };
        execvp(argv[0], (char *const *)argv);
    } else {
        const char *argv[] = { bin, NULL };
        execv(bin, (char *const *)argv);
    }
    fprintf(stderr, "harness: exec %s: %s\n", opts->valgrind ? "valgrind" : bin,
            strerror(errno));
    _exit(127);
}

static bool server_alive(struct harness *h)
{
    if (h->pid <= 0) {
        return false;
    }
    int r = tsys_wait_pid(h->pid, 0);
    if (r == -ETIMEDOUT) {
        return true;
    }
    fprintf(stderr, "harness: classmentd (pid %d) exited with status %d\n", (int)h->pid, r);
    h->pid = 0;
    return false;
}

static int wait_ready(struct harness *h, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    int last_status = 0;
    while (tsys_left_ms(deadline) > 0) {
        if (!server_alive(h)) {
            return -ECHILD;
        }
        int status = 0;
        if (harness_http_get(h->port, "/healthz", 1000, &status, NULL) == 0) {
            if (status == 200) {
                return 0;
            }
            last_status = status;
        }
        tsys_sleep_ms(50);
    }
    fprintf(stderr, "harness: classmentd not ready after %d ms (last /healthz status %d)\n",
            timeout_ms, last_status);
    return -ETIMEDOUT;
}

int harness_start(struct harness **out, const struct harness_opts *opts)
{
    static const struct harness_opts defaults = { 0 };
    if (!opts) {
        opts = &defaults;
    }
    /* A server that closes a connection must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    struct harness *h = calloc(1, sizeof *h);
    int r = 0;
    const char *bin = getenv("CLASSMENT_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "harness: CLASSMENT_BIN (the classmentd to test) is not set; meson "
                        "test sets it\n");
        r = -EINVAL;
        goto out;
    }
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "harness: CLASSMENT_BIN=%s is not executable: %s\n", bin,
                strerror(errno));
        r = -ENOENT;
        goto out;
    }
    snprintf(h->dir, sizeof h->dir, "/tmp/classment-it.XXXXXX");
    if (!mkdtemp(h->dir)) {
        r = -errno;
        h->dir[0] = '\0';
        goto out;
    }
    snprintf(h->log_path, sizeof h->log_path, "%s/server.log", h->dir);
    snprintf(h->outbox_path, sizeof h->outbox_path, "%s/sms.outbox", h->dir);
    snprintf(h->key_path, sizeof h->key_path, "%s/master.key", h->dir);
    if (opts->db_conninfo) {
        snprintf(h->conninfo, sizeof h->conninfo, "%s", opts->db_conninfo);
    } else {
        r = testdb_create(&h->db, "classment_it");
        if (r) {
            goto out;
        }
        snprintf(h->conninfo, sizeof h->conninfo, "%s", h->db.conninfo);
    }
    r = free_port();
    if (r < 0) {
        goto out;
    }
    h->port = r;
    r = 0;
    fflush(NULL);
    h->pid = fork();
    if (h->pid < 0) {
        r = -errno;
        h->pid = 0;
        goto out;
    }
    if (h->pid == 0) {
        exec_server(h, opts, bin);
    }
    h->started = true;
    r = wait_ready(h, opts->valgrind ? START_TIMEOUT_VALGRIND_MS : START_TIMEOUT_MS);
out:
    if (r) {
        fprintf(stderr, "harness: classmentd did not start: %s\n", strerror(-r));
        harness_free(h);
        return r;
    }
    *out = h;
    return 0;
}

void harness_passed(struct harness *h)
{
    h->passed = true;
}

void harness_free(struct harness *h)
{
    if (!h) {
        return;
    }
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        tsys_wait_pid(h->pid, 10000);
        h->pid = 0;
    }
    testdb_drop(&h->db);
    if (h->dir[0]) {
        if (h->passed || !h->started) {
            tsys_rmtree(h->dir);
        } else {
            harness_print_log(h);
            fprintf(stderr, "harness: kept %s for a look\n", h->dir);
        }
    }
    free(h);
}

int harness_port(const struct harness *h)
{
    return h->port;
}

pid_t harness_pid(const struct harness *h)
{
    return h->pid;
}

const char *harness_log_path(const struct harness *h)
{
    return h->log_path;
}

const char *harness_outbox_path(const struct harness *h)
{
    return h->outbox_path;
}

const char *harness_key_path(const struct harness *h)
{
    return h->key_path;
}

const char *harness_conninfo(const struct harness *h)
{
    return h->conninfo;
}

void harness_print_log(const struct harness *h)
{
    tsys_print_file("classmentd log", h->log_path, 64 * 1024);
}

int harness_kill(struct harness *h, int sig)
{
    if (h->pid <= 0) {
        return -ECHILD;
    }
    return kill(h->pid, sig) == 0 ? 0 : -errno;
}

int harness_wait(struct harness *h, int timeout_ms)
{
    if (h->pid <= 0) {
        return -ECHILD;
    }
    int r = tsys_wait_pid(h->pid, timeout_ms);
    if (r != -ETIMEDOUT) {
        h->pid = 0;
    }
    return r;
}

int harness_stop(struct harness *h, int timeout_ms)
{
    int r = harness_kill(h, SIGTERM);
    if (r) {
        return r;
    }
    r = harness_wait(h, timeout_ms);
    if (r == -ETIMEDOUT) {
        fprintf(stderr, "harness: classmentd did not exit within %d ms of SIGTERM\n",
                timeout_ms);
        kill(h->pid, SIGKILL);
        tsys_wait_pid(h->pid, 10000);
        h->pid = 0;
    }
    return r;
}

long harness_peak_rss_kb(const struct harness *h)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)h->pid);
    char *text = tsys_read_file(path, NULL);
    long kb = -1;
    const char *line = text ? strstr(text, "\nVmHWM:") : NULL;
    if (line) {
        kb = strtol(line + 7, NULL, 10);
    }
    free(text);
    return kb;
}

/* ---- HTTP ---- */

static int http_connect(int port, uint64_t deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        int r = -errno;
        close(fd);
        return r;
    }
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t err_len = sizeof err;
    if (poll(&p, 1, tsys_left_ms(deadline)) != 1) {
        err = ETIMEDOUT;
    } else {
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    }
    if (err) {
        close(fd);
        return -err;
    }
    return fd;
}

/* Decodes a chunked body in place. Returns its length, or -1 while it is incomplete. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *line_end = memmem(body + in, len - in, "\r\n", 2);
        if (!line_end) {
            return -1;
        }
        size_t n = strtoul(body + in, NULL, 16);
        size_t data = (size_t)(line_end - body) + 2;
        if (n == 0) {
            return (long)out;
        }
        if (data + n + 2 > len) {
            return -1;
        }
        memmove(body + out, body + data, n);
        out += n;
        in = data + n + 2;
    }
}

int harness_http_get(int port, const char *path, int timeout_ms, int *status, char **body)
{
    return harness_http_request(port, path, NULL, timeout_ms, status, NULL, body);
}

int harness_http_request(int port, const char *path, const char *headers, int timeout_ms,
                         int *status, char **head, char **body)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    char *buf = NULL;
    int fd = http_connect(port, deadline);
    if (fd < 0) {
        return fd;
    }
    int r = 0;
    char req[2048];
    int req_len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
                           "\r\n",
                           path, port, headers ? headers : "");
    if (req_len < 0 || (size_t)req_len >= sizeof req) {
        r = -EINVAL;
        goto out;
    }
    if (send(fd, req, (size_t)req_len, MSG_NOSIGNAL) != req_len) {
        r = -EIO;
        goto out;
    }
    size_t cap = 65536, len = 0;
    buf = malloc(cap);
    for (;;) {
        /* Stop as soon as the whole response is in: servers may keep the connection open. */
        buf[len] = '\0';
        char *head_end = strstr(buf, "\r\n\r\n");
        if (head_end) {
            size_t head_len = (size_t)(head_end - buf) + 4;
            char *cl = strcasestr(buf, "\r\ncontent-length:");
            bool chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
            if (cl && cl < head_end && len >= head_len + strtoul(cl + 17, NULL, 10)) {
                break;
            }
            if (chunked && memmem(buf + head_len, len - head_len, "0\r\n\r\n", 5)) {
                break;
            }
        }
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int pr = poll(&p, 1, tsys_left_ms(deadline));
        if (pr == 0) {
            r = -ETIMEDOUT;
            goto out;
        }
        if (pr < 0) {
            if (errno == EINTR) {
                continue;
            }
            r = -errno;
            goto out;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            if (errno == ECONNRESET && len > 0) {
                break;
            }
            r = -errno;
            goto out;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    char *head_end = strstr(buf, "\r\n\r\n");
    if (!head_end || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
        r = -EPROTO;
        goto out;
    }
    if (head) {
        *head = strndup(buf, (size_t)(head_end - buf) + 2);
    }
    if (body) {
        *head_end = '\0';
        bool chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
        char *b = head_end + 4;
        size_t b_len = len - (size_t)(b - buf);
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (cl) {
            size_t want = strtoul(cl + 17, NULL, 10);
            b_len = want < b_len ? want : b_len;
        } else if (chunked) {
            long n = dechunk(b, b_len);
            if (n < 0) {
                if (head) {
                    free(*head);
                    *head = NULL;
                }
                r = -EPROTO;
                goto out;
            }
            b_len = (size_t)n;
        }
        *body = strndup(b, b_len);
    }
out:
    free(buf);
    close(fd);
    return r;
}

int harness_raise_fd_limit(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -errno;
    }
    if (rl.rlim_cur >= (rlim_t)n) {
        return 0;
    }
    if (rl.rlim_max < (rlim_t)n) {
        fprintf(stderr, "harness: the open-file hard limit %llu is below %ld\n",
                (unsigned long long)rl.rlim_max, n);
        return -EPERM;
    }
    rl.rlim_cur = (rlim_t)n;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -errno;
}

int harness_setup(void **state)
{
    struct harness *h = NULL;
    int r = harness_start(&h, NULL);
    *state = h;
    return r ? -1 : 0;
}

int harness_teardown(void **state)
{
    harness_free(*state);
    *state = NULL;
    return 0;
}

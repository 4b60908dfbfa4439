/* CPU time and memory of a process, and the machine's CPU time, from /proc (see
 * procstat.h). */
#include "bench/procstat.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool read_cpu(pid_t pid, uint64_t *cpu_ms)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    bool ok = false;
    if (fgets(line, sizeof line, f)) {
        /* The command name may hold spaces and parentheses, so fields are counted from the
         * last ')': state (3) ... cmajflt (13), then utime (14) and stime (15) in ticks. */
        const char *p = strrchr(line, ')');
        unsigned long long ut, st;
        if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                        &st) == 2) {
            *cpu_ms = (uint64_t)(ut + st) * 1000u / (uint64_t)sysconf(_SC_CLK_TCK);
            ok = true;
        }
    }
    fclose(f);
    return ok;
}

struct procstat procstat_read(pid_t pid)
{
    struct procstat s = { .rss_kib = -1, .hwm_kib = -1 };
    if (pid <= 0 || !read_cpu(pid, &s.cpu_ms)) {
        return s;
    }
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return s;
    }
    while (fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1) {
            s.rss_kib = v;
        } else if (sscanf(line, "VmHWM: %ld kB", &v) == 1) {
            s.hwm_kib = v;
        }
    }
    fclose(f);
    s.ok = s.rss_kib >= 0;
    return s;
}

struct procstat_machine procstat_read_machine(void)
{
    struct procstat_machine m = { 0 };
    FILE *f = fopen("/proc/stat", "r");
    if (!f) {
        return m;
    }
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
               &iowait, &irq, &softirq, &steal) == 8) {
        uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);
        m.busy_ms = (uint64_t)(user + nice + sys + irq + softirq) * 1000u / hz;
        m.steal_ms = (uint64_t)steal * 1000u / hz;
        m.total_ms = (uint64_t)(user + nice + sys + idle + iowait + irq + softirq + steal) *
                     1000u / hz;
        m.ok = true;
    }
    fclose(f);
    return m;
}

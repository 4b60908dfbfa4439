/* CPU time and memory of another process, read from /proc/PID/stat and /proc/PID/status
 * (Linux), so a benchmark can charge the server for the work it did; and the whole machine's
 * CPU time from /proc/stat, so load from other processes shows. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct procstat {
    bool ok;                /* false when the process could not be read */
    uint64_t cpu_ms;        /* user + system time so far */
    long rss_kib;           /* VmRSS: resident memory now */
    long hwm_kib;           /* VmHWM: peak resident memory */
};

/* Samples process pid; ok is false when it cannot be read (gone, or pid <= 0). */
struct procstat procstat_read(pid_t pid);

/* CPU time of the whole machine, summed over its cores. */
struct procstat_machine {
    bool ok;
    uint64_t busy_ms;       /* user, nice, system, irq and softirq */
    uint64_t steal_ms;      /* taken by the hypervisor for other guests */
    uint64_t total_ms;      /* everything, idle included */
};

struct procstat_machine procstat_read_machine(void);

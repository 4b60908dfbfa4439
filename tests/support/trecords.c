/* School-records fixtures for integration tests (see trecords.h). */
#include "tests/support/trecords.h"

#include <time.h>

#include <inttypes.h>
#include <stdio.h>

#include "tests/support/tauth.h"
#include "tests/support/tmsg.h"

/* The id of a create's reply, or -1 after printing it. Frees m. */
static int64_t reply_id(const char *op, struct tmsg *m)
{
    int64_t id = -1;
    if (!tauth_is_ok(m) || !tauth_int(m, "data.id", &id) || id <= 0) {
        fprintf(stderr, "trecords: %s: %s\n", op, m ? tmsg_text(m) : "no reply");
        id = -1;
    }
    tmsg_free(m);
    return id;
}

int64_t trec_year(struct wsclient *admin, const char *name, const char *starts_on,
                  const char *ends_on, bool current)
{
    return reply_id("year.create",
                    tauth_call(admin, "year.create",
                               "{name: %s, starts_on: %s, ends_on: %s, current: %t}", name,
                               starts_on, ends_on, (int)current));
}

int64_t trec_class(struct wsclient *admin, const char *name)
{
    return reply_id("class.create", tauth_call(admin, "class.create", "{name: %s}", name));
}

int64_t trec_section(struct wsclient *admin, int64_t class_id, const char *name,
                     int64_t class_teacher)
{
    if (class_teacher > 0) {
        return reply_id("section.create",
                        tauth_call(admin, "section.create",
                                   "{class: %D, name: %s, class_teacher: %D}", class_id, name,
                                   class_teacher));
    }
    return reply_id("section.create",
                    tauth_call(admin, "section.create", "{class: %D, name: %s}", class_id, name));
}

int64_t trec_subject(struct wsclient *admin, int64_t class_id, const char *name)
{
    return reply_id("subject.create",
                    tauth_call(admin, "subject.create", "{class: %D, name: %s}", class_id, name));
}

int trec_assign(struct wsclient *admin, int64_t teacher, int64_t section, int64_t subject)
{
    struct tmsg *m = tauth_call(admin, "teacher.assign", "{teacher: %D, section: %D, subject: %D}",
                                teacher, section, subject);
    int r = tauth_is_ok(m) ? 0 : -1;
    if (r) {
        fprintf(stderr, "trecords: teacher.assign: %s\n", m ? tmsg_text(m) : "no reply");
    }
    tmsg_free(m);
    return r;
}

int64_t trec_student(struct wsclient *admin, const char *name, const char *admission_no,
                     const char *class_name, const char *section_name, int roll_no)
{
    struct tmsg *m;
    if (class_name && roll_no > 0) {
        m = tauth_call(admin, "student.create",
                       "{name: %s, admission_no: %s, class: %s, section: %s, roll_no: %d}", name,
                       admission_no, class_name, section_name, roll_no);
    } else if (class_name) {
        m = tauth_call(admin, "student.create",
                       "{name: %s, admission_no: %s, class: %s, section: %s}", name,
                       admission_no, class_name, section_name);
    } else {
        m = tauth_call(admin, "student.create", "{name: %s, admission_no: %s}", name,
                       admission_no);
    }
    return reply_id("student.create", m);
}

void trec_day(int offset, char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday += offset;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    mktime(&tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

int64_t trec_class5_section(struct wsclient *admin, const char *name, int64_t class_teacher,
                            int64_t *class_id)
{
    if (*class_id <= 0) {
        char starts[11], ends[11];
        trec_day(-200, starts);
        trec_day(200, ends);
        if (trec_year(admin, "2026-27", starts, ends, true) < 0) {
            return -1;
        }
        *class_id = trec_class(admin, "Class 5");
        if (*class_id < 0) {
            return -1;
        }
    }
    return trec_section(admin, *class_id, name, class_teacher);
}

/* School-records fixtures for integration tests: a year, a class, a section, a subject, a
 * teacher's assignment and a placed student, each made with one op on an admin's connection.
 * Each returns the new id (trec_assign: 0), or -1 after printing the reply. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "tests/support/wsclient.h"

/* year.create {name, starts_on, ends_on, current} (dates "YYYY-MM-DD"). */
int64_t trec_year(struct wsclient *admin, const char *name, const char *starts_on,
                  const char *ends_on, bool current);
/* class.create {name} in the current year. */
int64_t trec_class(struct wsclient *admin, const char *name);
/* section.create {class, name, class_teacher?} (class_teacher 0: none). */
int64_t trec_section(struct wsclient *admin, int64_t class_id, const char *name,
                     int64_t class_teacher);
/* subject.create {class, name}. */
int64_t trec_subject(struct wsclient *admin, int64_t class_id, const char *name);
/* teacher.assign {teacher, section, subject}: 0 or -1. */
int trec_assign(struct wsclient *admin, int64_t teacher, int64_t section, int64_t subject);
/* student.create {name, admission_no, class, section, roll_no} (class and section names of a
 * section of the current year; NULL: not placed; roll_no 0: none). */
int64_t trec_student(struct wsclient *admin, const char *name, const char *admission_no,
                     const char *class_name, const char *section_name, int roll_no);

/* The local date offset days from today ("YYYY-MM-DD"): the server's "today" is this
 * machine's local date. */
void trec_day(int offset, char out[11]);
/* A section of class "Class 5" of a current year around today, made the first time
 * (*class_id <= 0: the year and the class are made and *class_id set), with class_teacher
 * (0: none). Returns the section id, or -1. */
int64_t trec_class5_section(struct wsclient *admin, const char *name, int64_t class_teacher,
                            int64_t *class_id);

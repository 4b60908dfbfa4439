/* A report card as a PDF, drawn with cairo and Pango so that names and remarks in any Indian
 * script shape correctly (fonts-noto-core). A pure function of its input: no database, no
 * loop; safe to call from a worker thread (the libuv pool), several at once. */
#pragma once
#include <stddef.h>

#define REPORT_CARD_MAX_SUBJECTS 24

struct report_card_subject {
    const char *name;  /* "Mathematics" */
    const char *marks; /* as printed: "78.5", "AB" (absent), "EX" (exempt), "" (none) */
    const char *max;   /* "100" */
    const char *grade; /* "B1", "" */
};

struct report_card {
    const char *school;        /* the school's name */
    const char *year, *term;   /* "2026-27", "Term 1" */
    const char *student;       /* the student's name, any script */
    const char *admission_no, *class_name, *section, *dob; /* dob "YYYY-MM-DD" or NULL */
    int roll_no;               /* 0: none */
    const struct report_card_subject *subjects;
    size_t n_subjects;         /* at most REPORT_CARD_MAX_SUBJECTS are drawn */
    const char *overall_percentage, *overall_grade; /* "81.2", "A2"; "" when none */
    const char *rank;          /* NULL: ranks off */
    int days_present, days_marked; /* the term's attendance */
    const char *remarks;       /* the class teacher's, any length (drawn at most ~12 lines) */
    const char *class_teacher; /* the class teacher's name, NULL: none */
};

/* Renders rc as a one-page A4 PDF. Returns 0 with *pdf (malloc'd, the caller frees) and
 * *len set, or a negative errno (-ENOMEM, -EIO when cairo fails). Invalid UTF-8 in any text
 * is drawn with replacement characters, never refused. */
int report_card_pdf(const struct report_card *rc, unsigned char **pdf, size_t *len);

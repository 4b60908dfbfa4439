/* Bulk import of students with their guardians from CSV: the part the socket op
 * (academics/import.c) and the operator's command (classment-admin import students) share.
 * It reads and checks the file in C, builds the parameters of three statements, and reads
 * their results; the caller runs them, asynchronously (op_sql) or not (libpq):
 *
 *   import_parse      the file: header, every row's own rules (import_errors so far)
 *   IMPORT_CHECK_SQL  what the database must say: current year, sections, admission numbers
 *                     taken, phones known (import_check_params / import_check_result)
 *   -- a dry run, or a file with errors, stops here: nothing is written --
 *   IMPORT_RESERVE_SQL the new rows' ids, so that what is sealed is bound to them
 *   IMPORT_WRITE_SQL  one statement: students placed, new parents, guardian links
 *
 * Errors are {row, column, message}: row is the file line the record starts on (the header is
 * row 1), column a header name ("" for the record as a whole). */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/crypto.h"
#include "core/phone.h"

#define IMPORT_MAX_ROWS 20000
/* Errors kept; the last one kept says how many more there were. */
#define IMPORT_MAX_ERRORS 1000
#define IMPORT_FIELD_MAX 1024
#define IMPORT_PARAMS_MAX 24

enum import_col {
    IC_ADMISSION_NO,
    IC_NAME,
    IC_DOB,
    IC_GENDER,
    IC_NATIONALITY,
    IC_CLASS,
    IC_SECTION,
    IC_ROLL_NO,
    IC_ENROLLED_ON,
    IC_G1_NAME,
    IC_G1_PHONE,
    IC_G1_RELATIONSHIP,
    IC_G2_NAME,
    IC_G2_PHONE,
    IC_G2_RELATIONSHIP,
    IC_N
};

/* The header names, in enum import_col order. */
extern const char *const import_columns[IC_N];

struct import_error {
    int row;
    char column[48];
    char message[160];
    int seq; /* private: the order found in */
};

struct import_student {
    int row;
    char *v[IC_N];     /* trimmed values (in the arena); NULL when empty or unusable */
    unsigned bad;      /* 1 << column: not valid UTF-8 or too long (reported) */
    int roll_no;       /* 0: none */
    int placement;     /* index in placements, -1: none */
    int phone[2];      /* index in phones per guardian, -1: none */
    int64_t id;        /* reserved */
};

struct import_placement {
    const char *class_name, *section;
    int64_t section_id; /* 0: unknown */
    bool class_known;
};

struct import_phone {
    char e164[PHONE_MAX];
    const char *name;   /* from its first row */
    int64_t user_id;    /* an existing parent of the school; 0: to be created, and after
                         * import_reserve_result minus the id reserved for it */
    bool other_school, not_parent;
};

struct import_batch {
    struct arena *arena;
    size_t n_rows;        /* data records in the file */
    struct import_student *students;
    size_t n_students, cap_students;
    struct import_placement *placements;
    size_t n_placements, cap_placements;
    struct import_phone *phones;
    size_t n_phones, cap_phones;
    struct import_error *errors;
    size_t n_errors;      /* kept */
    size_t errors_total;  /* found */
    bool fatal;           /* the file could not be read row by row (header, quoting) */
    bool errors_done;     /* private: sorted */
    int64_t year_id;      /* the school's current year; 0: none */
    size_t n_new_users, n_links;
    int64_t *new_user_ids; /* in phones order, for the phones without user_id */
    /* the write's result */
    int64_t created, guardians_created, guardians_linked;
};

/* The parameters of one statement, as text (NULL: SQL NULL); owned. */
struct import_params {
    char *v[IMPORT_PARAMS_MAX];
    int n;
};
void import_params_free(struct import_params *p);

/* Everything the batch holds is allocated in arena (freed with it). */
void import_init(struct import_batch *b, struct arena *arena);
/* Reads the file and checks each row's own rules. default_cc: calling code for phones
 * without one. Returns 0, or -1 when out of memory. */
int import_parse(struct import_batch *b, const char *csv, size_t len, const char *default_cc);

/* $1 school, $2 placement classes, $3 sections, $4 admission numbers, $5 phone indexes.
 * Rows: kind ('y' year, 's' section, 'a' admission taken, 'p' phone known), no (1-based
 * index), id, flag, role. */
extern const char IMPORT_CHECK_SQL[];
void import_check_params(const struct import_batch *b, const struct crypto_keys *keys,
                         int64_t school_id, struct import_params *p);
/* Adds the errors the database's answer shows, then sorts every error by row and column. */
void import_check_result(struct import_batch *b, const PGresult *res);

/* $1 students, $2 users: one row (kind 's' or 'u', id) per id. */
extern const char IMPORT_RESERVE_SQL[];
void import_reserve_params(struct import_batch *b, struct import_params *p);
/* Returns 0, or -1 when the answer does not hold the ids asked for. */
int import_reserve_result(struct import_batch *b, const PGresult *res);

/* One statement; its row: students created, parents created, links made. */
extern const char IMPORT_WRITE_SQL[];
void import_write_params(const struct import_batch *b, const struct crypto_keys *keys,
                         int64_t school_id, struct import_params *p);
void import_write_result(struct import_batch *b, const PGresult *res);

/* The constraints a write may break when another import or an admin got there first. */
#define IMPORT_ADMISSION_KEY "students_school_id_admission_no_key"
#define IMPORT_PHONE_KEY "users_phone_bi_key"

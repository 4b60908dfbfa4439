/* Schema migrations: numbered SQL files in a folder (0001_postgis.sql, 0002_….sql), applied in
 * order, each once and in its own transaction, recorded in the table schema_migrations.
 * Runs synchronously: only at start-up, before the loop serves anyone. */
#pragma once
#include <stddef.h>

enum {
    MIGRATE_E_CONNECT = 1, /* could not connect: err says why */
    MIGRATE_E_FAILED = 2,  /* a migration failed and was rolled back: err names the file */
    MIGRATE_E_DIR = 3,     /* the folder cannot be read or holds a badly named file */
};

/* Applies pending migrations from sql_dir. On success returns 0 and sets *n_applied.
 * On failure returns a MIGRATE_E_* and writes a one-line reason (file name and PostgreSQL's
 * message) to err. Concurrent runs are serialised with an advisory lock. */
int migrate_run(const char *conninfo, const char *sql_dir, int *n_applied, char *err,
                size_t err_len);

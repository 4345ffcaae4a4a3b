// store_floor: the most durable toggles per second SQLite gives on this
// machine for what one Gatehouse toggle must write, with no server around it.
//
// One thread, one connection, WAL with synchronous=FULL (every COMMIT
// fsyncs the WAL), prepared statements reused, and per toggle exactly the
// rows the issue requires of a durable, audited change:
//   - the override's record (an upsert keyed by kind and name);
//   - an audit row (revision, time, actor, method, reason, before, after),
//     indexed by actor;
//   - one audit subject row per name History can find the change by (its
//     feature and its component; an instance is found through its component),
//     indexed by subject.
// Toggles are committed in groups of G (one transaction, one fsync), as group
// commit does under G concurrent writers; the revision counter is updated
// once per group. The figures are the writer's ceiling: no network, no TLS,
// no validation, no encoding, no waiting callers.
//
//   cc -O2 -o store_floor Benchmarks/StoreFloor/store_floor.c -lsqlite3
//   ./store_floor DIRECTORY SECONDS GROUP_SIZES...      e.g. ./store_floor /tmp 5 1 16 64 256
//
// Prints, per group size: toggles/s, transactions/s, and CPU µs per toggle
// (user + system of this process).
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
           (double)usage.ru_stime.tv_usec / 1e6;
}

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "store_floor: %s failed: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void exec(sqlite3 *db, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "store_floor: %s: %s\n", sql, error);
        exit(1);
    }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *statement = NULL;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL), db, sql);
    return statement;
}

static void run(sqlite3_stmt *statement, sqlite3 *db) {
    check(sqlite3_step(statement), db, sqlite3_sql(statement));
    sqlite3_reset(statement);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DIRECTORY SECONDS GROUP_SIZES...\n", argv[0]);
        return 2;
    }
    const char *directory = argv[1];
    double seconds = atof(argv[2]);
    // A JSON value of the size the server stores for one override.
    const char *value = "{\"enabled\":true,\"feature\":\"BenchToggle\",\"parameters\":{},\"scope\":\"instance/bench/w17\","
                        "\"stamp\":{\"actor\":\"admin\",\"reason\":\"benchmark\",\"revision\":123456,\"time\":1764126000000}}";
    printf("group  toggles/s  transactions/s  CPU us/toggle\n");
    for (int argument = 3; argument < argc; argument++) {
        int group = atoi(argv[argument]);
        char path[4096];
        snprintf(path, sizeof path, "%s/store_floor_%d_%d.db", directory, (int)getpid(), group);
        sqlite3 *db = NULL;
        check(sqlite3_open(path, &db), db, "open");
        exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
        exec(db,
             "CREATE TABLE meta (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL);"
             "INSERT INTO meta VALUES (1, 0);"
             "CREATE TABLE records (kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, create_revision INTEGER NOT NULL,"
             " mod_revision INTEGER NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;"
             "CREATE TABLE audit (revision INTEGER PRIMARY KEY, time_unix_ms INTEGER NOT NULL, actor TEXT NOT NULL, method TEXT NOT NULL,"
             " reason TEXT NOT NULL, before BLOB NOT NULL, after BLOB NOT NULL);"
             "CREATE INDEX audit_by_actor ON audit (actor, revision);"
             "CREATE TABLE audit_subjects (revision INTEGER NOT NULL, position INTEGER NOT NULL, subject TEXT NOT NULL,"
             " PRIMARY KEY (revision, position)) WITHOUT ROWID;"
             "CREATE INDEX audit_subjects_by_subject ON audit_subjects (subject, revision);");
        sqlite3_stmt *upsert = prepare(db,
                                       "INSERT INTO records (kind, key, value, create_revision, mod_revision) VALUES (?1, ?2, ?3, ?4, ?4)"
                                       " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision");
        sqlite3_stmt *audit = prepare(db, "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        sqlite3_stmt *subject = prepare(db, "INSERT INTO audit_subjects VALUES (?1, ?2, ?3)");
        sqlite3_stmt *meta = prepare(db, "UPDATE meta SET revision = ?1 WHERE id = 1");
        sqlite3_stmt *begin = prepare(db, "BEGIN IMMEDIATE");
        sqlite3_stmt *commit = prepare(db, "COMMIT");

        long long revision = 0, transactions = 0;
        double started = now_seconds(), cpu = cpu_seconds();
        while (now_seconds() - started < seconds) {
            run(begin, db);
            for (int index = 0; index < group; index++) {
                revision++;
                int writer = (int)(revision % 64);
                char key[64];
                snprintf(key, sizeof key, "BenchToggle@instance/bench/w%d", writer);
                sqlite3_bind_text(upsert, 1, "feature_override", -1, SQLITE_STATIC);
                sqlite3_bind_text(upsert, 2, key, -1, SQLITE_STATIC);
                sqlite3_bind_blob(upsert, 3, value, (int)strlen(value), SQLITE_STATIC);
                sqlite3_bind_int64(upsert, 4, revision);
                run(upsert, db);
                sqlite3_bind_int64(audit, 1, revision);
                sqlite3_bind_int64(audit, 2, 1764126000000LL + revision);
                sqlite3_bind_text(audit, 3, "admin", -1, SQLITE_STATIC);
                sqlite3_bind_text(audit, 4, "/gatehouse.v1.Features/Set", -1, SQLITE_STATIC);
                sqlite3_bind_text(audit, 5, "benchmark", -1, SQLITE_STATIC);
                sqlite3_bind_blob(audit, 6, value, (int)strlen(value), SQLITE_STATIC);
                sqlite3_bind_blob(audit, 7, value, (int)strlen(value), SQLITE_STATIC);
                run(audit, db);
                const char *subjects[] = {"component:bench", "feature:BenchToggle"};
                for (int position = 0; position < 2; position++) {
                    sqlite3_bind_int64(subject, 1, revision);
                    sqlite3_bind_int(subject, 2, position);
                    sqlite3_bind_text(subject, 3, subjects[position], -1, SQLITE_STATIC);
                    run(subject, db);
                }
            }
            sqlite3_bind_int64(meta, 1, revision);
            run(meta, db);
            run(commit, db);
            transactions++;
        }
        double elapsed = now_seconds() - started, used = cpu_seconds() - cpu;
        printf("%5d  %9.0f  %14.0f  %13.1f\n", group, (double)revision / elapsed, (double)transactions / elapsed, used / (double)revision * 1e6);
        fflush(stdout);
        sqlite3_finalize(upsert);
        sqlite3_finalize(audit);
        sqlite3_finalize(subject);
        sqlite3_finalize(meta);
        sqlite3_finalize(begin);
        sqlite3_finalize(commit);
        sqlite3_close(db);
        char extra[4200];
        unlink(path);
        snprintf(extra, sizeof extra, "%s-wal", path);
        unlink(extra);
        snprintf(extra, sizeof extra, "%s-shm", path);
        unlink(extra);
    }
    return 0;
}

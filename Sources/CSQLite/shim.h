//===----------------------------------------------------------------------===//
// CSQLite: the system SQLite 3 (Debian's libsqlite3-dev), as Swift sees it.
//
// Swift imports SQLite's functions directly, but not SQLITE_TRANSIENT and
// SQLITE_STATIC: they are casts of integers to a destructor function
// pointer, which the Clang importer refuses. Each `static inline` below gives
// one of those a plain C signature and nothing more: no logic lives here, it
// lives in GatehouseStore. Every wrapper is prefixed `gh_` so its origin is
// obvious at the call site.
//===----------------------------------------------------------------------===//
#ifndef GATEHOUSE_CSQLITE_SHIM_H
#define GATEHOUSE_CSQLITE_SHIM_H

#include <stddef.h>
#include <sqlite3.h>

/// Binds text that SQLite copies before returning (SQLITE_TRANSIENT), so the
/// Swift string's temporary buffer may go away right after the call.
static inline int gh_sqlite3_bind_text_transient(sqlite3_stmt *statement, int index,
                                                 const char *text, int byteCount) {
    return sqlite3_bind_text(statement, index, text, byteCount, SQLITE_TRANSIENT);
}

/// Binds a blob that SQLite copies before returning (SQLITE_TRANSIENT).
/// A NULL pointer with a zero length binds an empty blob, not SQL NULL
/// (sqlite3_bind_zeroblob), so an empty value stays distinguishable from none.
static inline int gh_sqlite3_bind_blob_transient(sqlite3_stmt *statement, int index,
                                                 const void *bytes, int byteCount) {
    if (bytes == NULL || byteCount == 0) {
        return sqlite3_bind_zeroblob(statement, index, 0);
    }
    return sqlite3_bind_blob(statement, index, bytes, byteCount, SQLITE_TRANSIENT);
}

#endif // GATEHOUSE_CSQLITE_SHIM_H

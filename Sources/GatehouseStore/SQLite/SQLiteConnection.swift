import CSQLite

/// One SQLite connection with its cache of prepared statements.
///
/// Not `Sendable`: SQLite is opened with `SQLITE_OPEN_NOMUTEX`, so a connection
/// must stay on the one thread (or serial queue) that owns it. The store
/// keeps two: the writer's, and a reader's for history queries, which WAL
/// lets run while the writer commits.
package final class SQLiteConnection {
    package let path: String
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (creating if needed) the database at `path`; `readOnly` opens an existing file only, for reading.
    package init(path: String, busyTimeoutMilliseconds: Int32, readOnly: Bool = false) throws(StoreError) {
        self.path = path
        var database: OpaquePointer?
        let access = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        let flags = access | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &database, flags, nil)
        guard rc == SQLITE_OK, let database else {
            let message = database.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(database)
            throw StoreError.sqlite(code: rc, message: message, operation: "open", path: path)
        }
        self.handle = database
        sqlite3_busy_timeout(database, busyTimeoutMilliseconds)
    }

    deinit {
        self.close()
    }

    /// Finalizes every cached statement and closes the database; later calls fail with ``StoreError/closed(path:)``.
    package func close() {
        self.statements.removeAll()
        if let handle = self.handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    /// Whether a transaction is open (SQLite is not in autocommit mode).
    package var inTransaction: Bool {
        guard let handle = self.handle else {
            return false
        }
        return sqlite3_get_autocommit(handle) == 0
    }

    /// The largest string or blob this connection accepts (`SQLITE_LIMIT_LENGTH`, 1 GB by default).
    package var maximumLength: Int {
        guard let handle = self.handle else {
            return 0
        }
        return Int(sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, -1))
    }

    /// Runs one or more SQL statements that take no parameters (schema, pragmas, BEGIN/COMMIT).
    package func execute(_ sql: String) throws(StoreError) {
        let handle = try self.openHandle()
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        guard rc == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw StoreError.sqlite(code: sqlite3_extended_errcode(handle), message: text, operation: sql, path: self.path)
        }
    }

    /// The prepared statement for `sql`, prepared on first use and cached for the life of the connection.
    package func statement(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = self.statements[sql] {
            return cached
        }
        let handle = try self.openHandle()
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw StoreError.sqlite(
                code: sqlite3_extended_errcode(handle),
                message: String(cString: sqlite3_errmsg(handle)),
                operation: sql,
                path: self.path
            )
        }
        let prepared = SQLiteStatement(handle: statement, database: handle, sql: sql, path: self.path)
        self.statements[sql] = prepared
        return prepared
    }

    /// Runs a pragma and returns its first column as text (e.g. `journal_mode` answers `wal`).
    package func pragma(_ sql: String) throws(StoreError) -> String? {
        var answer: String?
        try self.statement(sql).forEachRow { row throws(StoreError) in
            if answer == nil, !row.isNull(0) {
                answer = row.text(0)
            }
        }
        return answer
    }

    /// Rolls back the open transaction, if any; reports whether the connection is now clean.
    @discardableResult
    package func rollbackIfNeeded() -> Bool {
        guard self.inTransaction else {
            return true
        }
        do {
            try self.execute("ROLLBACK")
        } catch {
            return false
        }
        return !self.inTransaction
    }

    private func openHandle() throws(StoreError) -> OpaquePointer {
        guard let handle = self.handle else {
            throw StoreError.closed(path: self.path)
        }
        return handle
    }
}

import CSQLite

/// One prepared statement, owned by the ``SQLiteConnection`` that caches it.
///
/// Like the connection it is confined to one thread. Every method leaves the
/// statement reset after an error, so a cached statement is always reusable.
package final class SQLiteStatement {
    private let handle: OpaquePointer
    private let database: OpaquePointer
    package let sql: String
    private let path: String

    init(handle: OpaquePointer, database: OpaquePointer, sql: String, path: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
        self.path = path
    }

    deinit {
        sqlite3_finalize(self.handle)
    }

    /// Clears the previous run and binds `values` to parameters 1…n.
    package func bind(_ values: [SQLiteValue]) throws(StoreError) {
        sqlite3_reset(self.handle)
        sqlite3_clear_bindings(self.handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let integer):
                rc = sqlite3_bind_int64(self.handle, index, integer)
            case .text(let text):
                let byteCount = text.utf8.count
                guard let length = Int32(exactly: byteCount) else {
                    throw StoreError.invalidRecord(reason: "text of \(byteCount) bytes exceeds SQLite's limit", path: self.path)
                }
                rc = text.withCString { gh_sqlite3_bind_text_transient(self.handle, index, $0, length) }
            case .blob(let bytes):
                guard let length = Int32(exactly: bytes.count) else {
                    throw StoreError.invalidRecord(reason: "value of \(bytes.count) bytes exceeds SQLite's limit", path: self.path)
                }
                rc = bytes.withUnsafeBytes { gh_sqlite3_bind_blob_transient(self.handle, index, $0.baseAddress, length) }
            case .null:
                rc = sqlite3_bind_null(self.handle, index)
            }
            guard rc == SQLITE_OK else {
                throw self.error(rc)
            }
        }
    }

    /// Binds `values` and runs the statement to completion, ignoring any rows.
    package func execute(_ values: [SQLiteValue] = []) throws(StoreError) {
        try self.bind(values)
        while try self.step() {}
    }

    /// Binds `values` and calls `body` once per result row.
    package func forEachRow(
        _ values: [SQLiteValue] = [],
        _ body: (SQLiteRow) throws(StoreError) -> Void
    ) throws(StoreError) {
        try self.bind(values)
        while try self.step() {
            try body(SQLiteRow(handle: self.handle))
        }
    }

    /// Advances one row: true when a row is ready, false when the statement is done.
    private func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(self.handle)
        switch rc {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            sqlite3_reset(self.handle)
            return false
        default:
            let error = self.error(rc)
            sqlite3_reset(self.handle)
            throw error
        }
    }

    private func error(_ rc: Int32) -> StoreError {
        .sqlite(
            code: sqlite3_extended_errcode(self.database),
            message: String(cString: sqlite3_errmsg(self.database)),
            operation: self.sql,
            path: self.path
        )
    }
}

/// The current row of a stepping statement; valid only inside the `forEachRow` body,
/// because SQLite reuses the row's memory on the next step.
package struct SQLiteRow {
    fileprivate let handle: OpaquePointer

    fileprivate init(handle: OpaquePointer) {
        self.handle = handle
    }

    package func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(self.handle, column) == SQLITE_NULL
    }

    package func integer(_ column: Int32) -> Int64 {
        sqlite3_column_int64(self.handle, column)
    }

    package func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(self.handle, column) else {
            return ""
        }
        let count = Int(sqlite3_column_bytes(self.handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    package func blob(_ column: Int32) -> [UInt8] {
        guard let pointer = sqlite3_column_blob(self.handle, column) else {
            return []
        }
        let count = Int(sqlite3_column_bytes(self.handle, column))
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}

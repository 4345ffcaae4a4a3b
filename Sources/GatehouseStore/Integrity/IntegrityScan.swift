import CSQLite

/// Reads a whole database and names every damaged row: the check behind
/// both ``SQLiteGateStore``'s open and ``StoreCheck``.
///
/// Three layers, because each catches what the others miss:
/// - SQLite's page check (`PRAGMA quick_check`, or `integrity_check`
///   offline) finds pages that are not valid b-tree pages, such as a zeroed
///   page, even in an index no query reads at open;
/// - every record and audit entry is read back and its CRC-32C compared with
///   the one written with it, which finds a value changed into other valid
///   bytes (an edited JSON document), which no page check can see; and the
///   records' checksums must add up to `meta.records_digest`, which finds a
///   record deleted or added whole;
/// - audit revisions must run from 1 to the store's revision without a gap
///   (every committed batch writes exactly one entry), which finds deleted
///   audit rows.
///
/// A part of a table SQLite cannot read (`SQLITE_CORRUPT`) is reported and
/// stepped over: audit revisions are probed one by one past the damage, so
/// the report names exactly which entries are lost. Any other SQLite error
/// (I/O, out of memory) is not damage and is thrown.
///
/// Must run inside a read transaction, so it sees one consistent state even
/// while a server writes (WAL).
package struct IntegrityScan {
    private let connection: SQLiteConnection
    /// Whether the rows carry checksums (schema version 2 and later).
    private let checksums: Bool
    package private(set) var damage: [StoreDamage] = []
    package private(set) var revision = Revision.zero
    package private(set) var recordCount = 0
    package private(set) var auditCount = 0
    /// `meta.records_digest`: the sum of every record's checksum as of the last commit.
    private var recordsDigest: Int64 = 0

    /// Audit entries read per query: bounds the memory a scan holds, whatever the log's size.
    private static let auditChunk = 256

    package init(connection: SQLiteConnection, checksums: Bool) {
        self.connection = connection
        self.checksums = checksums
    }

    /// Runs SQLite's page-level check; `thorough` also cross-checks every index against its table.
    package mutating func checkPages(thorough: Bool) throws(StoreError) {
        let pragma = thorough ? "PRAGMA integrity_check(1000)" : "PRAGMA quick_check(1000)"
        var lines: [String] = []
        do throws(StoreError) {
            try self.connection.statement(pragma).forEachRow { row throws(StoreError) in
                // One row may hold several lines, headed by "*** in database main ***".
                lines += row.text(0).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("*** in database") }
            }
        } catch {
            // The check reports what it found, then may stop with SQLITE_CORRUPT
            // on the page it could not read: keep its lines, and the error if it has none.
            guard Self.isDamage(error), !lines.isEmpty else {
                try self.damaged(error, table: "database", row: "")
                return
            }
        }
        if lines == ["ok"] {
            return
        }
        let tables = self.treeNames()
        for line in lines {
            self.damage.append(StoreDamage(table: Self.table(of: line, in: tables) ?? "database", row: "", problem: .page(line)))
        }
    }

    /// Reads the store's revision from `meta`.
    package mutating func readRevision() throws(StoreError) {
        do throws(StoreError) {
            var found = false
            let digest = self.checksums ? "records_digest" : "0"
            try self.connection.statement("SELECT revision, \(digest) FROM meta WHERE id = 1").forEachRow { row throws(StoreError) in
                found = true
                self.recordsDigest = row.integer(1)
                let raw = row.integer(0)
                if let value = UInt64(exactly: raw) {
                    self.revision = Revision(value)
                } else {
                    self.damage.append(StoreDamage(table: "meta", row: "", problem: .invalid("revision is negative (\(raw))")))
                }
            }
            if !found {
                self.damage.append(StoreDamage(table: "meta", row: "", problem: .missing))
            }
        } catch {
            try self.damaged(error, table: "meta", row: "")
        }
    }

    /// Reads every record, checks it, and hands each readable one to `body` (damaged ones too: the caller refuses on any damage).
    package mutating func scanRecords(_ body: (_ kind: String, _ key: String, _ value: StoredValue) -> Void) throws(StoreError) {
        let checksum = self.checksums ? "checksum" : "0"
        var last: String?
        var digest: Int64 = 0
        do throws(StoreError) {
            try self.connection.statement(
                "SELECT kind, key, value, create_revision, mod_revision, \(checksum) FROM records ORDER BY kind, key"
            ).forEachRow { row throws(StoreError) in
                let kind = row.text(0)
                let key = row.text(1)
                let value = row.blob(2)
                let create = row.integer(3)
                let mod = row.integer(4)
                let name = "\(kind)/\(key) (revision \(mod))"
                last = "\(kind)/\(key)"
                self.recordCount += 1
                digest &+= row.integer(5)
                if self.checksums, row.integer(5) != RowChecksum.record(kind: kind, key: key, value: value, createRevision: create, modRevision: mod) {
                    self.damage.append(StoreDamage(table: "records", row: name, problem: .checksumMismatch))
                }
                guard let createRevision = UInt64(exactly: create), let modRevision = UInt64(exactly: mod) else {
                    self.damage.append(StoreDamage(table: "records", row: name, problem: .invalid("has a negative revision")))
                    return
                }
                if modRevision > self.revision.rawValue {
                    self.damage.append(
                        StoreDamage(table: "records", row: name, problem: .invalid("mod revision is above the store's \(self.revision)"))
                    )
                }
                body(kind, key, StoredValue(value: value, createRevision: Revision(createRevision), modRevision: Revision(modRevision)))
            }
        } catch {
            try self.damaged(error, table: "records", row: last.map { "after \($0)" } ?? "from the first row")
            return  // rows are missing from the sum: the digest says nothing more
        }
        if self.checksums, digest != self.recordsDigest {
            self.damage.append(
                StoreDamage(
                    table: "records", row: "",
                    problem: .invalid("the rows' checksums do not add up to the sum written with the last change: a record was deleted or added outside Gatehouse")
                )
            )
        }
    }

    /// Reads every audit entry with its subjects, checks each, and checks that revisions 1…``revision`` are all there.
    package mutating func scanAudit() throws(StoreError) {
        var next: UInt64 = 1  // the revision the next entry must have
        while true {
            let chunk: [(revision: UInt64, entry: AuditEntry, checksum: Int64)]
            do throws(StoreError) {
                chunk = try self.auditRows(after: next - 1)
            } catch {
                guard Self.isDamage(error) else {
                    throw error
                }
                // Step over the damage: probe one revision at a time until one reads.
                guard let resumed = try self.probe(from: next) else {
                    return
                }
                next = resumed
                continue
            }
            guard let lastRow = chunk.last else {
                break
            }
            for row in chunk {
                if row.revision > next {
                    self.missing(next, row.revision - 1)
                }
                self.check(row.revision, row.entry, row.checksum)
                next = row.revision + 1
            }
            if chunk.count < Self.auditChunk || lastRow.revision >= UInt64(Int64.max) {
                break
            }
        }
        if next <= self.revision.rawValue {
            self.missing(next, self.revision.rawValue)
        } else if next - 1 > self.revision.rawValue {
            self.damage.append(
                StoreDamage(table: "audit", row: "revision \(next - 1)", problem: .invalid("is above the store's revision \(self.revision)"))
            )
        }
    }

    /// Revisions from `start` on, read one at a time, until one reads; returns the revision
    /// after it (the chunked scan resumes there), or nil when none up to the store's revision does.
    /// Each call consumes at least one revision, so the scan always advances.
    private mutating func probe(from start: UInt64) throws(StoreError) -> UInt64? {
        var unreadable: ClosedRange<UInt64>?
        var absent: ClosedRange<UInt64>?
        defer {
            if let unreadable {
                self.damage.append(StoreDamage(table: "audit", row: Self.revisions(unreadable), problem: .unreadable("on a damaged page")))
            }
            if let absent {
                self.missing(absent.lowerBound, absent.upperBound)
            }
        }
        var revision = start
        while revision <= self.revision.rawValue {
            do throws(StoreError) {
                if let row = try self.auditRows(exactly: revision) {
                    self.check(row.revision, row.entry, row.checksum)
                    return revision + 1
                }
                absent = (absent?.lowerBound ?? revision)...revision
            } catch {
                guard Self.isDamage(error) else {
                    throw error
                }
                unreadable = (unreadable?.lowerBound ?? revision)...revision
            }
            revision += 1
        }
        return nil
    }

    private mutating func check(_ revision: UInt64, _ entry: AuditEntry, _ stored: Int64) {
        self.auditCount += 1
        if self.checksums, stored != RowChecksum.audit(revision: Int64(revision), entry: entry) {
            self.damage.append(StoreDamage(table: "audit", row: "revision \(revision)", problem: .checksumMismatch))
        }
    }

    private mutating func missing(_ first: UInt64, _ last: UInt64) {
        self.damage.append(StoreDamage(table: "audit", row: Self.revisions(first...last), problem: .missing))
    }

    private static func revisions(_ range: ClosedRange<UInt64>) -> String {
        range.count == 1 ? "revision \(range.lowerBound)" : "revisions \(range.lowerBound)…\(range.upperBound)"
    }

    private func auditRows(after revision: UInt64) throws(StoreError) -> [(revision: UInt64, entry: AuditEntry, checksum: Int64)] {
        try self.auditRows(where: "revision > ?1 ORDER BY revision LIMIT \(Self.auditChunk)", bound: revision)
    }

    private func auditRows(exactly revision: UInt64) throws(StoreError) -> (revision: UInt64, entry: AuditEntry, checksum: Int64)? {
        try self.auditRows(where: "revision = ?1", bound: revision).first
    }

    private func auditRows(where filter: String, bound: UInt64) throws(StoreError) -> [(revision: UInt64, entry: AuditEntry, checksum: Int64)] {
        let checksum = self.checksums ? "checksum" : "0"
        var rows: [(revision: UInt64, entry: AuditEntry, checksum: Int64)] = []
        try self.connection.statement(
            "SELECT revision, time_unix_ms, actor, method, reason, before, after, \(checksum) FROM audit WHERE \(filter)"
        ).forEachRow([.integer(Int64(clamping: bound))]) { row throws(StoreError) in
            guard let revision = UInt64(exactly: row.integer(0)), revision > 0 else {
                return  // the CHECK constraint forbids it; a row with it is reported as a gap
            }
            let entry = AuditEntry(
                timeUnixMilliseconds: row.integer(1), actor: row.text(2), method: row.text(3), reason: row.text(4),
                before: row.blob(5), after: row.blob(6)
            )
            rows.append((revision, entry, row.integer(7)))
        }
        guard let first = rows.first?.revision, let last = rows.last?.revision else {
            return rows
        }
        var index = 0
        try self.connection.statement(
            "SELECT revision, subject FROM audit_subjects WHERE revision BETWEEN ?1 AND ?2 ORDER BY revision, position"
        ).forEachRow([.integer(Int64(first)), .integer(Int64(last))]) { row throws(StoreError) in
            let revision = UInt64(clamping: row.integer(0))
            while index < rows.count, rows[index].revision < revision {
                index += 1
            }
            if index < rows.count, rows[index].revision == revision {
                rows[index].entry.subjects.append(row.text(1))
            }
        }
        return rows
    }

    /// Records `error` as damage when SQLite says the file is damaged; throws anything else.
    private mutating func damaged(_ error: StoreError, table: String, row: String) throws(StoreError) {
        guard Self.isDamage(error) else {
            throw error
        }
        let message: String
        switch error {
        case .sqlite(_, let text, _, _):
            message = text
        case .schemaTooNew, .corrupt, .invalidRecord, .alreadyOpen, .closed, .unavailable, .unreachable, .damaged:
            message = "\(error)"
        }
        self.damage.append(StoreDamage(table: table, row: row, problem: .unreadable(message)))
    }

    private static func isDamage(_ error: StoreError) -> Bool {
        error.primaryCode == SQLITE_CORRUPT || error.primaryCode == SQLITE_NOTADB
    }

    /// Root page → table name, to say which table a page-check line is about.
    private func treeNames() -> [Int64: String] {
        var names: [Int64: String] = [:]
        try? self.connection.statement("SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0").forEachRow { row in
            names[row.integer(0)] = row.text(1)
        }
        return names
    }

    /// The table a page-check line names through "Tree N", if any.
    private static func table(of line: String, in tables: [Int64: String]) -> String? {
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(of: "Tree"), index + 1 < words.count else {
            return nil
        }
        return Int64(words[index + 1].prefix { $0.isNumber }).flatMap { tables[$0] }
    }
}

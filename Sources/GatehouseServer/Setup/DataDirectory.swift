import Foundation
import GatehouseStore

/// The server's data directory: `gatehouse.db` (with `-wal`, `-shm`),
/// `policy.yaml`, `admin.conf` and `pki/` for a development server.
///
/// Created with mode 0700 whatever the umask, and every file in it 0600
/// (certificates 0644, see ``DevelopmentPKI``). Whoever holds the database's
/// lock owns the directory: the server takes it before writing anything
/// here, so a second `gatehouse serve` on a directory in use stops without
/// touching a file of the running one.
public struct DataDirectory: Sendable {
    public let path: String

    /// - Parameter path: made absolute, so messages name it unambiguously.
    public init(_ path: String) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The SQLite database, which is also the directory's lock.
    public var database: String {
        URL(fileURLWithPath: self.path).appendingPathComponent("gatehouse.db").path
    }

    /// The default access policy file.
    public var policy: String {
        URL(fileURLWithPath: self.path).appendingPathComponent("policy.yaml").path
    }

    /// Creates the directory (mode 0700) if it does not exist.
    public func prepare() throws {
        try PrivateFile.createDirectory(self.path, mode: 0o700)
    }

    /// What `gatehouse check` prints, and whether the database is sound.
    public struct CheckResult: Sendable {
        public var isClean: Bool
        /// One line: what was checked.
        public var summary: String
        /// One line per damaged row or page.
        public var problems: [String]
    }

    /// Verifies the database without taking it over (see ``StoreCheck``): safe while a server runs.
    ///
    /// - Throws: when there is no database, or it cannot be read as one at all.
    public func check() throws -> CheckResult {
        guard FileManager.default.fileExists(atPath: self.database) else {
            throw DataDirectoryError.noDatabase(directory: self.path, database: self.database)
        }
        let report = try StoreCheck.run(path: self.database)
        var summary = "\(report.path): schema version \(report.schemaVersion), revision \(report.revision), "
            + "\(report.records) records, \(report.auditEntries) audit entries"
        if report.schemaVersion < StoreSchema.checksumVersion {
            summary += " (no checksums before schema version \(StoreSchema.checksumVersion): pages checked only; the next `gatehouse serve` adds them)"
        }
        return CheckResult(isClean: report.isClean, summary: summary, problems: report.damage.map(\.description))
    }
}

/// Why the server will not start on a data directory, with what to do about it.
public enum DataDirectoryError: Error, CustomStringConvertible {
    /// Another server holds the directory's lock: the database's over SQLite, the directory's own over etcd.
    case inUse(directory: String, lockedPath: String)
    /// The directory cannot be opened or locked (not a permission a server may lack silently).
    case unusable(directory: String, detail: String)
    /// The database is damaged; the store's error lists the first rows.
    case damaged(directory: String, StoreError)
    /// `gatehouse check` was pointed at a directory without a database.
    case noDatabase(directory: String, database: String)

    public var description: String {
        switch self {
        case .inUse(let directory, let lockedPath):
            return "data directory \(directory) is in use: another gatehouse holds the lock on \(lockedPath). "
                + "Stop it first, or pass a different --data-dir. Nothing in the directory was changed."
        case .damaged(let directory, let error):
            return "\(error)\nRefusing to start rather than serve a state that differs from what was acknowledged. Restore \(directory) "
                + "from a backup taken before the damage; `gatehouse check --data-dir \(directory)` lists every damaged row "
                + "without starting the server."
        case .unusable(let directory, let detail):
            return "data directory \(directory) cannot be used: \(detail)"
        case .noDatabase(let directory, let database):
            return "no database in \(directory) (\(database) does not exist)"
        }
    }
}

/// The on-disk layout, as an ordered list of migrations from an empty file.
///
/// The `schema_version` table holds the number of the last migration applied.
/// Opening runs, in one transaction, every migration above it, so a crash
/// mid-migration leaves the old version intact. A database whose version is
/// above the last migration this build knows is refused
/// (``StoreError/schemaTooNew(found:supported:path:)``) rather than written by
/// code that does not understand it. To change the layout, append a
/// ``Migration``; never edit one that has shipped.
package enum StoreSchema {
    /// One step of the layout: `sql` takes a database at `version - 1` to `version`.
    package struct Migration: Sendable {
        package var version: Int
        package var summary: String
        package var sql: String
        /// Work SQL alone cannot do (computing checksums), run after `sql` in the same transaction.
        package var backfill: (@Sendable (SQLiteConnection) throws(StoreError) -> Void)?

        package init(
            version: Int,
            summary: String,
            sql: String,
            backfill: (@Sendable (SQLiteConnection) throws(StoreError) -> Void)? = nil
        ) {
            self.version = version
            self.summary = summary
            self.sql = sql
            self.backfill = backfill
        }
    }

    /// The first version whose records and audit entries carry a checksum.
    package static let checksumVersion = 2

    /// Every migration this build knows, in order, numbered from 1 without gaps.
    package static let migrations: [Migration] = [
        Migration(
            version: 1,
            summary: "records, audit, audit subjects and the revision counter",
            sql: """
                CREATE TABLE meta (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    revision INTEGER NOT NULL CHECK (revision >= 0)
                ) STRICT;
                INSERT INTO meta (id, revision) VALUES (1, 0);

                CREATE TABLE records (
                    kind TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    create_revision INTEGER NOT NULL CHECK (create_revision > 0),
                    mod_revision INTEGER NOT NULL CHECK (mod_revision >= create_revision),
                    PRIMARY KEY (kind, key)
                ) STRICT, WITHOUT ROWID;

                CREATE TABLE audit (
                    revision INTEGER PRIMARY KEY CHECK (revision > 0),
                    time_unix_ms INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    method TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    before BLOB NOT NULL,
                    after BLOB NOT NULL
                ) STRICT;
                CREATE INDEX audit_by_actor ON audit (actor, revision);

                CREATE TABLE audit_subjects (
                    revision INTEGER NOT NULL REFERENCES audit (revision) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    subject TEXT NOT NULL,
                    PRIMARY KEY (revision, position)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX audit_subjects_by_subject ON audit_subjects (subject, revision);
                """
        ),
        Migration(
            version: 2,
            summary: "a CRC-32C checksum on every record and audit entry, and their sum over all records in meta, computed once for the rows already there",
            sql: """
                ALTER TABLE meta ADD COLUMN records_digest INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE records ADD COLUMN checksum INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE audit ADD COLUMN checksum INTEGER NOT NULL DEFAULT 0;
                """,
            backfill: { connection throws(StoreError) in try ChecksumBackfill.run(connection) }
        ),
        Migration(
            version: 3,
            summary: "the component instances the server knew, kept across a restart; not gate state: no revision, no audit",
            sql: """
                CREATE TABLE instances (
                    component TEXT NOT NULL,
                    instance_id TEXT NOT NULL,
                    value BLOB NOT NULL,
                    last_seen_unix_ms INTEGER NOT NULL,
                    PRIMARY KEY (component, instance_id)
                ) STRICT, WITHOUT ROWID;
                """
        ),
    ]

    /// The first version with the `instances` table (``InstanceTable``).
    package static let instancesVersion = 3

    /// Brings the database to the last of `migrations`, in one `BEGIN IMMEDIATE` transaction.
    ///
    /// - Returns: the schema version the database had before.
    @discardableResult
    package static func migrate(
        _ connection: SQLiteConnection,
        migrations: [Migration] = StoreSchema.migrations
    ) throws(StoreError) -> Int {
        let supported = migrations.last?.version ?? 0
        try connection.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_version (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL
                ) STRICT
                """
            )
            var found = 0
            try connection.statement("SELECT version FROM schema_version WHERE id = 1").forEachRow { row throws(StoreError) in
                found = Int(row.integer(0))
            }
            guard found <= supported else {
                throw StoreError.schemaTooNew(found: found, supported: supported, path: connection.path)
            }
            for (index, migration) in migrations.enumerated() where migration.version > found {
                guard migration.version == index + 1 else {
                    throw StoreError.corrupt(
                        reason: "migration list is not numbered 1…n (found \(migration.version) at position \(index + 1))",
                        path: connection.path
                    )
                }
                try connection.execute(migration.sql)
                try migration.backfill?(connection)
            }
            if supported > found {
                try connection.statement(
                    "INSERT INTO schema_version (id, version) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET version = excluded.version"
                ).execute([.integer(Int64(supported))])
            }
            try connection.execute("COMMIT")
            return found
        } catch {
            connection.rollbackIfNeeded()
            throw error
        }
    }
}

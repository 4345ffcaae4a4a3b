/// The checksums stored beside each row, and what each one covers.
///
/// Every field goes in length-prefixed, so moving bytes from one field to
/// the next (a key that grows as its value shrinks) changes the sum, and a
/// record's sum can never equal an audit entry's because each starts with
/// its own tag. Stored in SQLite as the unsigned 32-bit value in an
/// INTEGER column. `meta.records_digest` holds the wrapping sum of every
/// record's checksum, which no edit of a single row can keep: it is how a
/// record deleted (or added) whole is noticed.
package enum RowChecksum {
    /// A record's checksum: its kind, key, value and both revisions.
    package static func record(kind: String, key: String, value: [UInt8], createRevision: Int64, modRevision: Int64) -> Int64 {
        var crc = CRC32C()
        Self.field(Array("record".utf8), into: &crc)
        Self.field(Array(kind.utf8), into: &crc)
        Self.field(Array(key.utf8), into: &crc)
        Self.field(value, into: &crc)
        crc.update(createRevision)
        crc.update(modRevision)
        return Int64(crc.value)
    }

    /// An audit entry's checksum: every column of its row and its subjects, in order.
    package static func audit(revision: Int64, entry: AuditEntry) -> Int64 {
        var crc = CRC32C()
        Self.field(Array("audit".utf8), into: &crc)
        crc.update(revision)
        crc.update(entry.timeUnixMilliseconds)
        Self.field(Array(entry.actor.utf8), into: &crc)
        Self.field(Array(entry.method.utf8), into: &crc)
        Self.field(Array(entry.reason.utf8), into: &crc)
        Self.field(entry.before, into: &crc)
        Self.field(entry.after, into: &crc)
        crc.update(Int64(entry.subjects.count))
        for subject in entry.subjects {
            Self.field(Array(subject.utf8), into: &crc)
        }
        return Int64(crc.value)
    }

    private static func field(_ bytes: [UInt8], into crc: inout CRC32C) {
        crc.update(Int64(bytes.count))
        crc.update(bytes)
    }
}

import Foundation
import GatehouseStore

/// The bytes of one audit key: an ``AuditRecord`` and the commit id of its group.
///
/// Version 1, big-endian: `0x01`, the commit id (16 bytes), the revision
/// (u64), the time (i64), actor, method and reason (u32 length + UTF-8),
/// before and after (u32 length + bytes), the subjects (u32 count, then each
/// as a string), and last a CRC-32C of everything before it, as the SQLite
/// store checksums its rows: a value damaged in etcd or written by a newer
/// Gatehouse is refused by name, never replayed half-read.
public enum AuditCodec {
    public static let version: UInt8 = 1

    /// An audit value decoded: the record and the group that committed it.
    public struct Decoded: Sendable, Hashable {
        public var record: AuditRecord
        public var commitID: UUID
    }

    public static func encode(_ record: AuditRecord, commitID: UUID) -> Data {
        var bytes: [UInt8] = [Self.version]
        let id = commitID.uuid
        withUnsafeBytes(of: id) { bytes.append(contentsOf: $0) }
        Self.append(record.revision.rawValue, to: &bytes)
        Self.append(UInt64(bitPattern: record.entry.timeUnixMilliseconds), to: &bytes)
        Self.append(Array(record.entry.actor.utf8), to: &bytes)
        Self.append(Array(record.entry.method.utf8), to: &bytes)
        Self.append(Array(record.entry.reason.utf8), to: &bytes)
        Self.append(record.entry.before, to: &bytes)
        Self.append(record.entry.after, to: &bytes)
        Self.append(UInt32(record.entry.subjects.count), to: &bytes)
        for subject in record.entry.subjects {
            Self.append(Array(subject.utf8), to: &bytes)
        }
        Self.append(CRC32C.checksum(bytes), to: &bytes)
        return Data(bytes)
    }

    /// Decodes an audit value; the error says what is wrong with it.
    public static func decode(_ data: Data) throws(AuditDecodingError) -> Decoded {
        let bytes = [UInt8](data)
        guard bytes.count >= 1 + 16 + 8 + 8 + 4 else { throw AuditDecodingError("\(bytes.count) bytes is too short") }
        guard bytes[0] == Self.version else {
            throw AuditDecodingError("version \(bytes[0]) is not \(Self.version); written by a newer Gatehouse?")
        }
        var reader = Reader(bytes: bytes[..<(bytes.count - 4)])
        let stored = UInt32(bigEndianBytes: bytes[(bytes.count - 4)...])
        guard CRC32C.checksum(bytes[..<(bytes.count - 4)]) == stored else {
            throw AuditDecodingError("checksum does not match: the value is damaged")
        }
        reader.offset = 1
        let id = Array(try reader.take(16))
        let uuid = UUID(
            uuid: (
                id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7],
                id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15]
            )
        )
        let revision = try reader.u64()
        let time = Int64(bitPattern: try reader.u64())
        let actor = try reader.string()
        let method = try reader.string()
        let reason = try reader.string()
        let before = try reader.blob()
        let after = try reader.blob()
        let count = try reader.u32()
        var subjects: [String] = []
        for _ in 0..<count { subjects.append(try reader.string()) }
        guard reader.offset == reader.bytes.endIndex else { throw AuditDecodingError("trailing bytes") }
        let entry = AuditEntry(
            timeUnixMilliseconds: time, actor: actor, method: method, reason: reason,
            before: before, after: after, subjects: subjects
        )
        return Decoded(record: AuditRecord(revision: Revision(revision), entry: entry), commitID: uuid)
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ blob: [UInt8], to bytes: inout [UInt8]) {
        Self.append(UInt32(blob.count), to: &bytes)
        bytes.append(contentsOf: blob)
    }

    /// Reads the fields in order, refusing a length that runs past the end.
    private struct Reader {
        let bytes: ArraySlice<UInt8>
        var offset: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            self.offset = bytes.startIndex
        }

        mutating func take(_ count: Int) throws(AuditDecodingError) -> ArraySlice<UInt8> {
            guard count >= 0, self.bytes.endIndex - self.offset >= count else {
                throw AuditDecodingError("a field runs past the end of the value")
            }
            defer { self.offset += count }
            return self.bytes[self.offset..<(self.offset + count)]
        }

        mutating func u64() throws(AuditDecodingError) -> UInt64 {
            try self.take(8).reduce(0) { $0 << 8 | UInt64($1) }
        }

        mutating func u32() throws(AuditDecodingError) -> UInt32 {
            try self.take(4).reduce(0) { $0 << 8 | UInt32($1) }
        }

        mutating func blob() throws(AuditDecodingError) -> [UInt8] {
            Array(try self.take(Int(try self.u32())))
        }

        mutating func string() throws(AuditDecodingError) -> String {
            let bytes = try self.blob()
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw AuditDecodingError("a text field is not UTF-8")
            }
            return text
        }
    }
}

/// Why an audit value could not be read.
public struct AuditDecodingError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension UInt32 {
    fileprivate init(bigEndianBytes bytes: ArraySlice<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

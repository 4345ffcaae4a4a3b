import NIOCore

/// Key/value pairs sent with a call's HEADERS. Keys may repeat; order is kept.
public struct Metadata: Hashable, Sendable, Sequence {
    public struct Entry: Hashable, Sendable {
        /// Lowercase ASCII `[a-z0-9._-]`, 1–255 octets.
        public var key: String
        public var value: [UInt8]

        public init(key: String, value: [UInt8]) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    public mutating func append(_ key: String, _ value: String) {
        self.entries.append(Entry(key: key, value: Array(value.utf8)))
    }

    /// The first value of `key` as UTF-8 text.
    public subscript(_ key: String) -> String? {
        self.entries.first(where: { $0.key == key }).map { String(decoding: $0.value, as: UTF8.self) }
    }

    public var count: Int { self.entries.count }

    /// The size the server's limits count: each entry's key and value octets
    /// plus 32, as HTTP/2 counts a header list, so that many empty entries
    /// cost what they take to hold.
    public var size: Int {
        self.entries.reduce(0) { $0 + $1.key.utf8.count + $1.value.count + 32 }
    }

    public func makeIterator() -> IndexingIterator<[Entry]> { self.entries.makeIterator() }

    /// Whether `key` is a valid metadata key.
    public static func isValidKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard (1...255).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

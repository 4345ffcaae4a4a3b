/// A point in time as milliseconds since the Unix epoch.
///
/// The core has no clock of its own: callers pass the time in, so every rule
/// stays a pure function and tests never sleep. Matches the wire's `*_unix_ms`.
public struct UnixMilliseconds: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    public var rawValue: Int64

    public init(rawValue: Int64) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: Int64) {
        self.rawValue = rawValue
    }

    /// The time `milliseconds` later (earlier when negative).
    public func advanced(by milliseconds: Int64) -> UnixMilliseconds {
        UnixMilliseconds(self.rawValue + milliseconds)
    }

    /// Milliseconds from `other` to this time (negative when `other` is later).
    public func milliseconds(since other: UnixMilliseconds) -> Int64 {
        self.rawValue - other.rawValue
    }

    public static func < (lhs: UnixMilliseconds, rhs: UnixMilliseconds) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

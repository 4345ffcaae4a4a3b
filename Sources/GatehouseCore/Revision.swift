/// A point in Gatehouse's history: one global counter, +1 per committed batch.
///
/// Every stored object (feature definition, API definition, override) records
/// the revision that last changed it, and conditional writes compare against
/// the current one. Revision 0 is the empty state; the first committed batch is
/// revision 1. Same shape as `GatehouseStore.Revision` (a bare number on the
/// wire and in JSON/YAML, spelled `r42` for people) so the two can be unified.
public struct Revision: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The revision of a state nothing was ever committed to.
    public static let zero = Revision(0)

    /// The revision the next committed batch will get.
    public var next: Revision {
        Revision(self.rawValue + 1)
    }

    public static func < (lhs: Revision, rhs: Revision) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

extension Revision: CustomStringConvertible {
    /// `r42`, the spelling admins see ("4/5 replicas applied r1042").
    public var description: String {
        "r\(self.rawValue)"
    }
}

extension Revision: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt64) {
        self.rawValue = value
    }
}

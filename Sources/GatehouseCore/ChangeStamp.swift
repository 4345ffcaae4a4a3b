/// Who last changed a stored override, when, at which revision, and why.
///
/// Kept on the override itself so `Features/Get` and `gatectl explain` can say
/// "set on component kubelet by alice at r1042: canary for #123" without a
/// trip through the audit log.
public struct ChangeStamp: Hashable, Sendable, Codable {
    /// The revision of the batch that last changed the object.
    public var revision: Revision
    /// The caller's identity (client certificate CN).
    public var actor: String
    /// The reason given with that batch.
    public var reason: String
    /// When that batch was applied.
    public var time: UnixMilliseconds

    public init(revision: Revision, actor: String, reason: String, time: UnixMilliseconds) {
        self.revision = revision
        self.actor = actor
        self.reason = reason
        self.time = time
    }
}

/// A stored catalog definition with the revision that last changed it.
public struct Revisioned<Value: Hashable & Sendable>: Hashable, Sendable {
    public var value: Value
    public var revision: Revision

    public init(_ value: Value, revision: Revision) {
        self.value = value
        self.revision = revision
    }
}

extension Revisioned: Codable where Value: Codable {
    private enum CodingKeys: String, CodingKey {
        case value
        case revision
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try container.decode(Value.self, forKey: .value),
            revision: try container.decode(Revision.self, forKey: .revision)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.value, forKey: .value)
        try container.encode(self.revision, forKey: .revision)
    }
}

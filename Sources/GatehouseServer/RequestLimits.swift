import GatehouseCore

/// Bounds on what one request may make the server keep, record or do.
///
/// Without them one certificate could grow server memory (a component
/// registered 1,000 instances with 896 KB of labels each: +900 MB) or write
/// audit entries no `History` call can return (a 1 MB reason made 3 MB
/// entries). Each bound refuses the request whole, before anything is kept:
/// `INVALID_ARGUMENT` for a request that is too large in itself,
/// `RESOURCE_EXHAUSTED` when the server is full (instances per component).
///
/// The per-field sizes follow Kubernetes' labels (a key's name part is at
/// most 63 octets) and DNS names (253), which is what components already use.
public struct RequestLimits: Sendable, Hashable {
    /// Labels on one instance.
    public var maxLabels = 32
    /// Octets of one label key.
    public var maxLabelKeyOctets = 63
    /// Octets of one label value.
    public var maxLabelValueOctets = 255
    /// Octets of a registered version (`1.32.0-alpha.1+build.7`).
    public var maxVersionOctets = 64
    /// Features one registration may say its binary knows.
    public var maxKnownFeatures = 1_000
    /// APIs one registration may say its binary knows.
    public var maxKnownAPIs = 500
    /// Octets of any name a registration carries: component, instance id, a
    /// known feature, each part of a known API. The same bound as Core's name
    /// rules, counted in octets rather than characters.
    public var maxNameOctets = 253
    /// Octets of the reason a write gives; it is recorded on every override the
    /// write touches and in its audit entry.
    public var maxReasonOctets = 1_024
    /// Changes in one `Features/Set`. With the default, a Set's audit entry
    /// fits ``maxAuditEntryOctets`` whatever it holds within the other bounds
    /// (``worstCaseSetAuditOctets(changes:)``: 743,602 octets for 32 changes;
    /// 45 would be the most that fit, the rest is margin for what the worst
    /// case assumes, such as a certificate name within RFC 5280's bound).
    public var maxChangesPerSet = 32
    /// Instances kept per component (registered or subscribed).
    public var maxInstancesPerComponent = 10_000
    /// A component at ``maxInstancesPerComponent`` makes room by forgetting its
    /// instance that has been disconnected longest, once that is longer than this.
    public var evictDisconnectedAfterMilliseconds: Int64 = 3_600_000
    /// Octets of one audit entry as `History` sends it. A batch whose entry
    /// would be larger is refused, so that every entry fits one `History`
    /// response inside a frame of the server's own maximum frame size
    /// (``init(maxFrameSize:)`` leaves ``historyEnvelopeOctets`` for the rest of
    /// that response). A `GatehouseServer` sets it from its configuration's
    /// `limits.maxFrameSize`, whatever is set here.
    public var maxAuditEntryOctets = 1_048_576 - RequestLimits.historyEnvelopeOctets

    /// Room kept in a `History` response frame for what is not the entry:
    /// the entry's own tag and length, `more`, `revision`, and a page token.
    public static let historyEnvelopeOctets = 1_024

    /// A certificate's common name is at most 64 characters (RFC 5280's
    /// ub-common-name); the actor an audit entry records is that name.
    static let actorOctetsAssumed = 64 * 4

    public init() {}

    /// The defaults, with audit entries bounded to fit a frame of `maxFrameSize`.
    public init(maxFrameSize: UInt32) {
        self.maxAuditEntryOctets = Int(maxFrameSize) - Self.historyEnvelopeOctets
    }
}

// MARK: - Registration

extension RequestLimits {
    /// Checks a registration (or a subscription's start) before the registry keeps any of it.
    ///
    /// The version is required: the skew guard compares every live replica's
    /// version with a feature's minimum, and a replica without one would be
    /// passed over silently.
    /// - Throws: `GateError` `invalidArgument`, with a reason in ``RegistrationRefusal``.
    func checkRegistration(
        component: String,
        instanceID: String,
        version: String,
        labels: [String: String],
        features: [String],
        apis: [(group: String, version: String, resource: String)]
    ) throws(GateError) {
        try self.checkSubscriber(component: component, instanceID: instanceID, version: version)
        guard !version.isEmpty else {
            throw GateError("a registration needs the instance's version (e.g. 1.31.2): the version-skew guard compares it with each feature's minimum",
                reason: .missingVersion
            )
        }
        _ = try Version(parsing: version)
        try self.checkLabels(labels)
        guard features.count <= self.maxKnownFeatures else {
            throw Self.tooMany("known features", count: features.count, limit: self.maxKnownFeatures)
        }
        for feature in features {
            try self.checkName(feature, what: "known feature")
        }
        guard apis.count <= self.maxKnownAPIs else {
            throw Self.tooMany("known APIs", count: apis.count, limit: self.maxKnownAPIs)
        }
        for api in apis {
            try self.checkName(api.group, what: "known API group", allowEmpty: true)
            try self.checkName(api.version, what: "known API version", allowEmpty: true)
            try self.checkName(api.resource, what: "known API resource", allowEmpty: true)
        }
    }

    /// Checks what a subscription's start names: a subscription records its
    /// instance too, so its names and version have the registration's bounds
    /// (the version may be empty here: a watch needs none).
    func checkSubscriber(component: String, instanceID: String, version: String) throws(GateError) {
        try self.checkName(component, what: "component")
        try self.checkName(instanceID, what: "instance id", allowEmpty: true)
        guard version.utf8.count <= self.maxVersionOctets else {
            throw Self.tooLong("version", octets: version.utf8.count, limit: self.maxVersionOctets)
        }
    }

    /// At most ``maxLabels`` labels, non-empty keys of at most
    /// ``maxLabelKeyOctets``, values of at most ``maxLabelValueOctets``, and no
    /// control characters in either (they end up in logs and tables).
    func checkLabels(_ labels: [String: String]) throws(GateError) {
        guard labels.count <= self.maxLabels else {
            throw Self.tooMany("labels", count: labels.count, limit: self.maxLabels)
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            guard !key.isEmpty else {
                throw GateError("a label key is empty: use e.g. zone=eu-west-1a", reason: .invalidLabel)
            }
            guard key.utf8.count <= self.maxLabelKeyOctets else {
                throw Self.tooLong("label key \"\(Self.excerpt(key))\"", octets: key.utf8.count, limit: self.maxLabelKeyOctets)
            }
            guard value.utf8.count <= self.maxLabelValueOctets else {
                throw Self.tooLong("the value of label \(key)", octets: value.utf8.count, limit: self.maxLabelValueOctets)
            }
            guard !ControlCharacters.occur(in: key), !ControlCharacters.occur(in: value) else {
                throw GateError("label \(Self.excerpt(key).debugDescription) has a control character in its key or value",
                    reason: .invalidLabel,
                    metadata: ["label": Self.excerpt(key)]
                )
            }
        }
    }

    private func checkName(_ name: String, what: String, allowEmpty: Bool = false) throws(GateError) {
        guard allowEmpty || !name.isEmpty else {
            throw GateError("the \(what) is empty", reason: .invalidName)
        }
        guard name.utf8.count <= self.maxNameOctets else {
            throw Self.tooLong("\(what) \"\(Self.excerpt(name))…\"", octets: name.utf8.count, limit: self.maxNameOctets)
        }
        guard !ControlCharacters.occur(in: name) else {
            throw GateError("the \(what) \(name.debugDescription) has a control character", reason: .invalidName)
        }
    }
}

// MARK: - Writes

extension RequestLimits {
    /// Checks a write's reason, and for a `Features/Set` its number of changes.
    /// - Parameter isSet: whether the batch is a `Features/Set`; definitions,
    ///   imports and registrations are bounded by their audit entry's size alone.
    /// - Throws: `GateError` `invalidArgument`: `REASON_TOO_LONG` or `TOO_MANY_CHANGES`.
    func checkWrite(_ batch: ChangeBatch, isSet: Bool) throws(GateError) {
        guard batch.reason.utf8.count <= self.maxReasonOctets else {
            throw GateError("the reason is \(batch.reason.utf8.count) octets; at most \(self.maxReasonOctets) are recorded: say why in a sentence and link to the rest",
                reason: .reasonTooLong,
                metadata: ["octets": String(batch.reason.utf8.count), "limit": String(self.maxReasonOctets)]
            )
        }
        guard !isSet || batch.changes.count <= self.maxChangesPerSet else {
            throw GateError("a Set may carry at most \(self.maxChangesPerSet) changes, this one has \(batch.changes.count): split it into several Sets",
                reason: .tooManyChanges,
                metadata: ["changes": String(batch.changes.count), "limit": String(self.maxChangesPerSet)]
            )
        }
    }

    /// Refuses a batch whose audit entry would not fit one `History` response.
    /// - Parameter octets: the entry's size as `History` sends it (``AuditEntrySize``).
    func checkAuditEntry(octets: Int) throws(GateError) {
        guard octets > self.maxAuditEntryOctets else { return }
        throw GateError("this change's audit entry would be \(octets) octets, more than the \(self.maxAuditEntryOctets) one History response can carry: split it into smaller batches",
            reason: .auditEntryTooLarge,
            metadata: ["octets": String(octets), "limit": String(self.maxAuditEntryOctets)]
        )
    }

    /// The largest audit entry a `Features/Set` of `changes` changes can make
    /// within these bounds, as `History` sends it.
    ///
    /// The worst change is an override replaced at an instance scope whose
    /// feature, component and instance names are each ``maxNameOctets`` long
    /// and need JSON's two-octet escapes throughout, with a reason of
    /// ``maxReasonOctets`` characters counted at six octets each (a control
    /// character's `\u` escape: more than any reason can take now that
    /// reasons refuse control characters, so the bound is conservative),
    /// recorded in both `before_json` and `after_json`; plus its line in
    /// `changes` and its two subjects. Parameters are not counted: their
    /// values are bounded by their feature's definition, not by the request,
    /// so the server also measures each entry (``checkAuditEntry(octets:)``).
    public func worstCaseSetAuditOctets(changes: Int) -> Int {
        let name = 2 * self.maxNameOctets
        let scope = "instance/".utf8.count + name + 1 + name
        let key = "feature_override/".utf8.count + name + 1 + scope
        let reason = 6 * self.maxReasonOctets
        let actor = 6 * Self.actorOctetsAssumed
        // OverrideJSON's layout, with 20 digits for the revision and the time.
        let skeleton = #"{"enabled":false,"feature":"","parameters":{},"scope":"","stamp":{"actor":"","reason":"","revision":,"time":}}"#.utf8.count
        let object = skeleton + name + scope + actor + reason + 20 + 20
        let member = 2 + key + 2 + object + 1  // "key":value,
        let line = AuditEntrySize.field("updated feature_override ".utf8.count + self.maxNameOctets + 1 + 2 * self.maxNameOctets + 10)
        let subjects = AuditEntrySize.field("feature:".utf8.count + self.maxNameOctets) + AuditEntrySize.field("component:".utf8.count + self.maxNameOctets)
        let perChange = 2 * member + line + subjects
        let fixed = AuditEntrySize.fixedOctets(actor: actor, method: "/gatehouse.v1.Features/Set".utf8.count, reason: self.maxReasonOctets)
        return fixed + 2 * AuditEntrySize.field(2) + changes * perChange
    }
}

// MARK: - Helpers

extension RequestLimits {
    static func tooLong(_ what: String, octets: Int, limit: Int) -> GateError {
        GateError("\(what) is \(octets) octets long; at most \(limit) are accepted",
            reason: .tooLong,
            metadata: ["octets": String(octets), "limit": String(limit)]
        )
    }

    static func tooMany(_ what: String, count: Int, limit: Int) -> GateError {
        GateError("a registration may carry at most \(limit) \(what), this one has \(count)",
            reason: .tooMany,
            metadata: ["count": String(count), "limit": String(limit)]
        )
    }


    /// The start of `text`, to name it in a message without echoing all of it.
    static func excerpt(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(40))
    }

    /// `text` cut to at most `octets` UTF-8 octets, on a character boundary.
    static func truncated(_ text: String, octets: Int) -> String {
        guard text.utf8.count > octets else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            guard used + size <= octets else { break }
            result.append(character)
            used += size
        }
        return result
    }
}

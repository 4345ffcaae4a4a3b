import GatehouseCore
import GatehouseProto

extension Change {
    /// The wire form of an override change (Set). Catalog changes travel
    /// as definitions (Define, ImportCatalog) and rollouts through Rollouts/*, not as `Change` messages.
    public var wire: Gatehouse_V1_Change? {
        switch self {
        case .setFeature(let name, let scope, let enabled, let parameters):
            return .with { change in
                change.feature = name
                change.scope = scope.wire
                if let enabled { change.enabled = enabled }
                change.params = parameters.mapValues(\.wire)
            }
        case .clearFeature(let name, let scope):
            return .with { $0.feature = name; $0.scope = scope.wire; $0.remove = true }
        case .setAPI(let selector, let scope, let enabled):
            return .with { $0.api = selector.wire; $0.scope = scope.wire; $0.enabled = enabled }
        case .clearAPI(let selector, let scope):
            return .with { $0.api = selector.wire; $0.scope = scope.wire; $0.remove = true }
        case .defineFeature, .defineAPI, .removeFeature, .removeAPI, .recordBuild, .putRollout:
            return nil
        }
    }

    public init(wire: Gatehouse_V1_Change, field: String) throws(GateError) {
        let scope = try Scope(wire: wire.scope, field: "\(field).scope")
        let enabled: Bool? = wire.enabledPresent.map { switch $0 { case .enabled(let value): value } }
        switch wire.target {
        case .feature(let name):
            guard !name.isEmpty else { throw invalid("\(field).feature", "a feature name is required") }
            if wire.remove {
                self = .clearFeature(name, scope: scope)
            } else {
                let parameters = try ParameterValue.map(wire.params, field: "\(field).params")
                guard enabled != nil || !parameters.isEmpty else {
                    throw invalid(field, "set enabled, params, or remove")
                }
                self = .setFeature(name, scope: scope, enabled: enabled, parameters: parameters)
            }
        case .api(let selector):
            let selector = try APISelector(wire: selector, field: "\(field).api")
            guard wire.params.isEmpty else { throw invalid("\(field).params", "APIs take no parameters") }
            if wire.remove {
                self = .clearAPI(selector, scope: scope)
            } else {
                guard let enabled else { throw invalid("\(field).enabled", "an API change needs enabled, or remove") }
                self = .setAPI(selector, scope: scope, enabled: enabled)
            }
        case nil:
            throw invalid(field, "a change needs a feature or an API selector")
        }
    }
}

extension ChangeBatch {
    /// A Set request as a batch, stamped with the caller's identity.
    public init(wire: Gatehouse_V1_SetRequest, actor: String) throws(GateError) {
        var changes: [Change] = []
        for (index, change) in wire.changes.enumerated() {
            changes.append(try Change(wire: change, field: "changes[\(index)]"))
        }
        let expected: Revision? = wire.expectedRevisionPresent.map { switch $0 { case .expectedRevision(let value): Revision(value) } }
        self.init(changes: changes, expectedRevision: expected, reason: wire.reason, actor: actor, allowsUnknownComponents: wire.allowUnknownComponent)
    }

    /// The Set request for the override changes of this batch.
    public var wireSetRequest: Gatehouse_V1_SetRequest {
        .with { request in
            request.changes = self.changes.compactMap(\.wire)
            request.reason = self.reason
            if let expected = self.expectedRevision { request.expectedRevision = expected.rawValue }
            request.allowUnknownComponent = self.allowsUnknownComponents
        }
    }
}

import GatehouseCore
import GatehouseRPC

/// What a caller may read, decided from the request's content once the
/// method's role check has let it in (``MethodAccess/read``).
///
/// Viewers, operators and admins read everything. A component's certificate
/// reads its own component only: the features and APIs that apply to it,
/// the overrides that reach it (global ones, its component's, its
/// instances'), its own builds, its instances, and the history of its own
/// component, with other components' objects cut out of batches that touched
/// both. Another component's overrides, instances and history are refused
/// with PERMISSION_DENIED.
struct ReadScope: Sendable {
    /// The one component the caller may read; nil when it may read everything.
    let component: String?
    /// For refusal messages.
    let caller: String

    init(_ principal: Principal) {
        self.caller = principal.name
        if !principal.roles.isDisjoint(with: [.admin, .operator, .viewer]) {
            self.component = nil
        } else {
            // A component certificate without a CN names no component, and so reads none.
            self.component = principal.identity?.commonName ?? ""
        }
    }

    /// The component filter to apply to a request naming `requested` ("" for all).
    ///
    /// - Returns: nil for no filter; a component's own name for a component (also when it asked for all).
    /// - Throws: PERMISSION_DENIED when a component asks for another.
    func filter(_ requested: String, field: String = "component") throws(RPCError) -> String? {
        guard let own = self.component else { return requested.isEmpty ? nil : requested }
        guard requested.isEmpty || requested == own else {
            throw self.refusal("\(field) \(requested)")
        }
        return own
    }

    /// Whether an override at `scope` may be shown: global, or of the caller's own component or its instances.
    func mayRead(_ scope: Scope) -> Bool {
        guard let own = self.component else { return true }
        return scope.component.map { $0 == own } ?? true
    }

    /// Whether a build of `component` may be shown.
    func mayRead(component: String) -> Bool {
        self.component.map { $0 == component } ?? true
    }

    /// Whether an audit object, by its key `kind/name` (``GateRecords``), may be shown.
    ///
    /// Overrides are `kind/target@scope` with the scope `global`,
    /// `component/C` or `instance/C/id`; builds are `component_build/C@version`.
    func mayRead(auditKey key: Substring) -> Bool {
        guard let own = self.component else { return true }
        guard let slash = key.firstIndex(of: "/") else { return true }
        let kind = key[..<slash]
        let name = key[key.index(after: slash)...]
        switch kind {
        case "feature_override", "api_override":
            guard let at = name.firstIndex(of: "@") else { return false }
            let scope = name[name.index(after: at)...]
            if scope == "global" { return true }
            return scope.hasPrefix("component/\(own)") && scope.count == "component/\(own)".count
                || scope.hasPrefix("instance/\(own)/")
        case "component_build":
            return name.hasPrefix("\(own)@")
        default:
            // Definitions (features, APIs) are the catalog every component reads.
            return true
        }
    }

    /// Whether an audit subject (`feature:F`, `api:S`, `component:C`) may be shown.
    func mayRead(subject: String) -> Bool {
        guard let own = self.component, subject.hasPrefix("component:") else { return true }
        return subject == "component:\(own)"
    }

    /// PERMISSION_DENIED naming what the caller asked for.
    func refusal(_ what: String) -> RPCError {
        RPCError(.permissionDenied, "\(self.caller) may read only its own component (\(self.component ?? "")), not \(what)")
    }
}

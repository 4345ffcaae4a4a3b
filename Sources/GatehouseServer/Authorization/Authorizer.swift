import GatehouseRPC
import GatehouseTLS
import Logging

/// Decides, per call, whether the caller's certificate identity may call a
/// method, and wraps methods so the check runs before them.
public struct Authorizer: Sendable {
    public let policy: AccessPolicy

    public init(policy: AccessPolicy) {
        self.policy = policy
    }

    /// The caller as the methods see it: identity and roles.
    public func principal(of context: RPCServerContext) -> Principal {
        guard let peer = context.peer else { return Principal(identity: nil, roles: []) }
        return Principal(identity: peer, roles: self.policy.roles(of: peer))
    }

    /// The caller's name for audit records (see ``Principal/name``), without matching its roles.
    public func name(of context: RPCServerContext) -> String {
        Principal(identity: context.peer, roles: []).name
    }

    /// Refuses with PERMISSION_DENIED, and logs it, unless the caller may call with `access`.
    public func check(_ access: MethodAccess, _ context: RPCServerContext) throws(RPCError) -> Principal {
        let principal = self.principal(of: context)
        guard access.allows(principal.roles) else {
            context.logger.warning(
                "call denied",
                metadata: ["peer.subject": "\(principal.identity?.subject ?? "-")", "peer.roles": "\(principal.roles.map(\.rawValue).sorted())"]
            )
            let roles = principal.roles.isEmpty ? "no role" : "roles \(principal.roles.map(\.rawValue).sorted().joined(separator: ", "))"
            throw RPCError(.permissionDenied, "\(principal.name) has \(roles); \(context.path) needs \(access.requirement)")
        }
        return principal
    }

    /// `method` with the access check in front of it.
    public func guarding(_ method: RPCMethod, with access: MethodAccess) -> RPCMethod {
        method.checked { context in _ = try self.check(access, context) }
    }
}

/// An authenticated caller.
public struct Principal: Sendable, Hashable {
    public var identity: TLSPeerIdentity?
    public var roles: Set<Role>

    /// For audit records and messages: the certificate's CN, else its subject.
    public var name: String {
        self.identity?.commonName ?? self.identity?.subject ?? "an anonymous caller"
    }

    /// Whether the caller may act on `component`'s behalf or read its state:
    /// any non-component role may; a component only for its own name.
    public func mayActFor(component: String) -> Bool {
        if !self.roles.isDisjoint(with: [.admin, .operator, .viewer]) { return true }
        return self.roles.contains(.component) && self.identity?.commonName == component
    }
}

extension MethodAccess {
    /// Who may call, for refusal messages.
    var requirement: String {
        switch self {
        case .anyRole: return "any role"
        case .read: return "viewer, operator, admin or component"
        case .operate: return "operator or admin"
        case .administer: return "admin"
        case .componentSelf: return "component (for itself) or admin"
        }
    }
}

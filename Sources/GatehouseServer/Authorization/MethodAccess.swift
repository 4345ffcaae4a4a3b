/// The access a method needs, checked before it runs.
public enum MethodAccess: Sendable, Hashable {
    /// Any caller with a valid client certificate and at least one role
    /// (discovery and health).
    case anyRole
    /// Reading state: viewer, operator, admin; component for its own component
    /// (the method checks which component it reads).
    case read
    /// Changing overrides and rollouts: operator, admin.
    case operate
    /// The catalog and the policy: admin.
    case administer
    /// A component acting for itself: component (its own name only), admin.
    case componentSelf

    /// Whether a caller holding `roles` may call a method needing this access.
    /// Component-scoped checks on the request's content come later, in the method.
    func allows(_ roles: Set<Role>) -> Bool {
        switch self {
        case .anyRole: return !roles.isEmpty
        case .read: return !roles.isDisjoint(with: [.viewer, .operator, .admin, .component])
        case .operate: return !roles.isDisjoint(with: [.operator, .admin])
        case .administer: return roles.contains(.admin)
        case .componentSelf: return !roles.isDisjoint(with: [.component, .admin])
        }
    }
}

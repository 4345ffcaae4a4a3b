/// What a caller may do, granted by the access policy to certificate identities.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// Read everything.
    case viewer
    /// Read everything, change overrides, run rollouts.
    case `operator`
    /// Everything, including the catalog and the policy.
    case admin
    /// One component's replicas: register, subscribe, ack and report health
    /// for their own component only (the certificate's CN), and read its state.
    case component

    public static func < (lhs: Role, rhs: Role) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .component: return 0
        case .viewer: return 1
        case .operator: return 2
        case .admin: return 3
        }
    }
}

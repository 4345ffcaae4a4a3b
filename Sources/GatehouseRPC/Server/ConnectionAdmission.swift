/// Which connections a server keeps, counted by stage: a value that the
/// server feeds accepts, first bytes, completed handshakes and closes, and
/// that answers with what to admit, drop or refuse.
///
/// Two stages, two limits, so that one stage cannot starve the other:
/// - **Handshaking**: accepted, TLS not yet complete, peer unknown. These cost
///   the server little but are free to open, so they get their own small
///   limit (``Limits/maxHandshakes``). When it is full, a new connection is
///   still accepted and the *oldest* pending handshake is dropped, preferring
///   one that has not sent a single byte. Refusing new ones instead would let
///   anyone who holds the limit's worth of silent sockets (reopened as they
///   time out) keep every real client out; dropping the oldest silent one
///   means a real client, whose ClientHello arrives right after its connect,
///   is never dropped while a silent socket is pending, and otherwise only
///   when more than the limit's worth of connections arrived during its own
///   handshake.
/// - **Authenticated**: the TLS handshake verified a client certificate. These
///   count against ``Limits/maxConnections``; the last
///   ``Limits/reservedConnections`` of it are kept for identities the server
///   layer calls privileged (people who must get in during an incident), so
///   idle or hostile connections from other certificates cannot fill it. A
///   connection over its limit is refused at this point, when the peer can
///   be told why.
///
/// Connection ids must grow with accept order: the smallest pending id is the oldest.
struct ConnectionAdmission: Sendable {
    typealias ID = UInt64

    struct Limits: Hashable, Sendable {
        /// Connections in their TLS handshake at once.
        var maxHandshakes: Int
        /// Authenticated connections at once, privileged ones included.
        var maxConnections: Int
        /// The part of `maxConnections` only privileged identities may use.
        var reservedConnections: Int

        /// Authenticated connections that identities without a reservation may hold.
        var unreservedConnections: Int {
            max(0, self.maxConnections - self.reservedConnections)
        }
    }

    /// What to do with a connection just accepted.
    enum AcceptAction: Hashable, Sendable {
        /// Keep it.
        case admit
        /// Keep it, and close this older pending handshake to make room.
        case admitDropping(ID)
    }

    /// What to do with a connection whose handshake just completed.
    enum AuthenticatedAction: Hashable, Sendable {
        case admit
        /// Close it, telling the peer why.
        case refuse(Refusal)
        /// The connection was already dropped or closed: nothing to do.
        case unknown
    }

    /// Why an authenticated connection was refused, with the limit it hit.
    enum Refusal: Hashable, Sendable {
        /// A privileged identity found every connection in use.
        case connectionLimit(Int)
        /// Another identity found every unreserved connection in use.
        case unreservedLimit(unreserved: Int, reserved: Int)
    }

    private struct Handshake: Sendable {
        /// Whether any byte has arrived from the peer.
        var spoke: Bool
    }

    let limits: Limits
    private var handshakes: [ID: Handshake] = [:]
    /// Authenticated connections, each with whether it is privileged.
    private var authenticated: [ID: Bool] = [:]
    private(set) var privilegedCount = 0

    init(limits: Limits) {
        self.limits = limits
    }

    /// Connections in their TLS handshake.
    var handshakingCount: Int { self.handshakes.count }
    /// Authenticated connections, privileged ones included.
    var authenticatedCount: Int { self.authenticated.count }

    /// A connection was accepted.
    mutating func accepted(_ id: ID) -> AcceptAction {
        var dropped: ID?
        if self.handshakes.count >= max(1, self.limits.maxHandshakes) {
            dropped = self.oldestHandshake()
            if let dropped { self.handshakes[dropped] = nil }
        }
        self.handshakes[id] = Handshake(spoke: false)
        return dropped.map { .admitDropping($0) } ?? .admit
    }

    /// The peer sent its first bytes (a ClientHello, or what claims to be one).
    mutating func spoke(_ id: ID) {
        self.handshakes[id]?.spoke = true
    }

    /// The TLS handshake completed with a verified peer.
    mutating func authenticated(_ id: ID, privileged: Bool) -> AuthenticatedAction {
        guard self.handshakes.removeValue(forKey: id) != nil else { return .unknown }
        if privileged {
            guard self.authenticated.count < self.limits.maxConnections else {
                return .refuse(.connectionLimit(self.limits.maxConnections))
            }
            self.privilegedCount += 1
        } else {
            let unreserved = self.authenticated.count - self.privilegedCount
            guard unreserved < self.limits.unreservedConnections, self.authenticated.count < self.limits.maxConnections else {
                return .refuse(.unreservedLimit(unreserved: self.limits.unreservedConnections, reserved: self.limits.reservedConnections))
            }
        }
        self.authenticated[id] = privileged
        return .admit
    }

    /// The connection closed, in whatever stage (or after it was dropped or refused).
    mutating func closed(_ id: ID) {
        self.handshakes[id] = nil
        if let privileged = self.authenticated.removeValue(forKey: id), privileged {
            self.privilegedCount -= 1
        }
    }

    /// The oldest silent handshake, else the oldest one.
    ///
    /// A linear scan: it runs only when the handshake limit is full, over at most that many entries.
    private func oldestHandshake() -> ID? {
        var oldestSilent: ID?
        var oldest: ID?
        for (id, handshake) in self.handshakes {
            if oldest.map({ id < $0 }) ?? true { oldest = id }
            if !handshake.spoke, oldestSilent.map({ id < $0 }) ?? true { oldestSilent = id }
        }
        return oldestSilent ?? oldest
    }
}

extension ConnectionAdmission.Refusal: CustomStringConvertible {
    /// For the peer (GOAWAY debug text) and the log.
    var description: String {
        switch self {
        case .connectionLimit(let limit):
            return "connection limit reached: all \(limit) connections are in use; retry later"
        case .unreservedLimit(let unreserved, let reserved):
            return "connection limit reached: all \(unreserved) connections open to this identity are in use (\(reserved) more are reserved for privileged identities); retry later"
        }
    }
}

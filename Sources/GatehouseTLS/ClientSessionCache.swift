import COpenSSL

/// Resumable TLS sessions a client context keeps, one per peer key.
///
/// Resumption saves a full handshake (and the certificate verification in
/// it) when a component reconnects, which is exactly when a restarted server
/// is flooded. OpenSSL's internal client cache is keyed by nothing useful, so
/// ``TLSContext`` turns it off and keeps its own: OpenSSL hands every new
/// session (in TLS 1.3, every ticket, which arrives after the handshake) to
/// ``sessionCallback``, and the next connection with the same key is offered
/// that session.
///
/// `@unchecked Sendable`: the dictionary is only touched under `lock`
/// (OpenSSL's own `CRYPTO_RWLOCK`, so the TLS module needs no other
/// concurrency library), and connections on different event loops share
/// one client context.
final class ClientSessionCache: @unchecked Sendable {
    /// Upper bound on stored sessions; past it the cache is emptied rather
    /// than grow without bound (a client talks to a handful of servers).
    private let capacity: Int
    private let lock: UnsafeMutableRawPointer
    /// Each value owns one reference to an `SSL_SESSION`.
    private var sessions: [String: OpaquePointer] = [:]

    init(capacity: Int = 256) {
        guard let lock = CRYPTO_THREAD_lock_new() else {
            preconditionFailure("OpenSSL could not allocate a lock")
        }
        self.lock = lock
        self.capacity = capacity
    }

    deinit {
        for session in self.sessions.values {
            SSL_SESSION_free(session)
        }
        CRYPTO_THREAD_lock_free(self.lock)
    }

    private func withLock<Result>(_ body: () -> Result) -> Result {
        CRYPTO_THREAD_write_lock(self.lock)
        defer { CRYPTO_THREAD_unlock(self.lock) }
        return body()
    }

    /// Stores `session` for `key`, taking over the caller's reference.
    func store(_ session: OpaquePointer, for key: String) {
        let evicted: [OpaquePointer] = self.withLock {
            var evicted: [OpaquePointer] = []
            if let previous = self.sessions.updateValue(session, forKey: key) {
                evicted.append(previous)
            } else if self.sessions.count > self.capacity {
                evicted = self.sessions.filter { $0.key != key }.map(\.value)
                self.sessions = [key: session]
            }
            return evicted
        }
        for old in evicted {
            SSL_SESSION_free(old)
        }
    }

    /// Offers the session stored for `key`, if any, on the new connection `ssl`.
    ///
    /// - Returns: whether a session was offered.
    @discardableResult
    func offer(for key: String, on ssl: OpaquePointer) -> Bool {
        self.withLock {
            guard let session = self.sessions[key] else { return false }
            // SSL_set_session takes its own reference, so the stored one stays ours.
            return SSL_set_session(ssl, session) == 1
        }
    }

    /// Whether a session is stored for `key` (for tests and diagnostics).
    func hasSession(for key: String) -> Bool {
        self.withLock { self.sessions[key] != nil }
    }

    /// Forgets the session for `key`, e.g. after the server rejected it.
    func remove(for key: String) {
        let removed = self.withLock { self.sessions.removeValue(forKey: key) }
        if let removed { SSL_SESSION_free(removed) }
    }
}

/// What one client connection tells the session callback: where to store
/// its new sessions and under which key. Attached to the `SSL` as ex-data.
final class SessionCacheSlot {
    let key: String
    let cache: ClientSessionCache

    init(key: String, cache: ClientSessionCache) {
        self.key = key
        self.cache = cache
    }
}

/// The ex-data index under which an `SSL` carries its ``SessionCacheSlot``.
/// Allocated once per process, on first use.
let sessionSlotExDataIndex: Int32 = gh_SSL_get_ex_new_index()

/// OpenSSL's new-session callback (`SSL_CTX_sess_set_new_cb`).
///
/// Runs synchronously inside `SSL_do_handshake`/`SSL_read` on the connection's
/// event loop, while the connection (and so its slot) is alive.
/// Returning 1 keeps OpenSSL's reference to the session for the cache.
func sessionCallback(_ ssl: OpaquePointer?, _ session: OpaquePointer?) -> Int32 {
    guard let ssl, let session,
          let raw = SSL_get_ex_data(ssl, sessionSlotExDataIndex),
          SSL_SESSION_is_resumable(session) == 1
    else { return 0 }
    let slot = Unmanaged<SessionCacheSlot>.fromOpaque(raw).takeUnretainedValue()
    slot.cache.store(session, for: slot.key)
    return 1
}

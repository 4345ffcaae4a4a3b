import CoreMetrics
import GatehouseTLS

/// What the RPC server counts, through swift-metrics: connections accepted and
/// refused, TLS handshakes completed and failed, and calls by method and status.
///
/// Domain-free and backend-free: the caller passes the `MetricsFactory` (the
/// server's Prometheus registry, or none), so two servers in one process keep
/// apart and nothing depends on the process-global `MetricsSystem`. Every
/// handle is made once, here: on the event loop a count is one atomic add,
/// with no lookup in the factory's registry and no allocation. Gauges of what
/// is open now are not kept here: ``RPCServer/connectionCounts`` answers them
/// when they are read.
public struct RPCServerMetrics: Sendable {
    /// Connections accepted (before their TLS handshake).
    let accepted: Counter
    /// TLS handshakes that completed with a verified client certificate.
    let handshakesCompleted: Counter
    /// TLS handshakes that failed, by ``HandshakeFailure``.
    private let handshakesFailed: [HandshakeFailure: Counter]
    /// Connections turned away, by reason.
    private let refused: [RefusalLogThrottle.Reason: Counter]
    /// `OK` and the other codes of each method, made on first use for codes other than `OK`.
    private let calls: [String: MethodCalls]
    private let factory: any MetricsFactory
    private let prefix: String

    /// Why a TLS handshake failed, as a metric label: few values, one per ``TLSError/Kind``.
    enum HandshakeFailure: String, CaseIterable, Sendable {
        case certificate
        case protocolError = "protocol"
        case timeout
        case peerClosed = "peer_closed"
        case other

        init(_ error: TLSError) {
            switch error.kind {
            case .certificateVerificationFailed: self = .certificate
            case .handshakeFailed, .io: self = .protocolError
            case .handshakeTimeout: self = .timeout
            case .unexpectedClose: self = .peerClosed
            case .configuration, .certificateIssuance: self = .other
            }
        }
    }

    private struct MethodCalls: Sendable {
        var ok: Counter
    }

    /// Counts nothing: for servers started without metrics (tests, embedders).
    public static let none = RPCServerMetrics(factory: NOOPMetricsHandler.instance, methods: [])

    /// - Parameters:
    ///   - factory: where the handles are made (a Prometheus registry's factory, say).
    ///   - prefix: the first word of every name, e.g. `gatehouse` → `gatehouse_connections_accepted_total`.
    ///   - methods: the paths calls are counted under; other paths count as `unknown`,
    ///     so a client cannot add series by calling made-up methods.
    public init(factory: any MetricsFactory, prefix: String = "gatehouse", methods: [String]) {
        self.factory = factory
        self.prefix = prefix
        self.accepted = Counter(label: "\(prefix)_connections_accepted_total", factory: factory)
        self.handshakesCompleted = Counter(label: "\(prefix)_tls_handshakes_completed_total", factory: factory)
        var failed: [HandshakeFailure: Counter] = [:]
        for reason in HandshakeFailure.allCases {
            failed[reason] = Counter(label: "\(prefix)_tls_handshakes_failed_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.handshakesFailed = failed
        var refused: [RefusalLogThrottle.Reason: Counter] = [:]
        // A failed handshake is counted by its TLS reason above, not again as a refusal.
        for reason in RefusalLogThrottle.Reason.allCases where reason != .handshakeFailed {
            refused[reason] = Counter(label: "\(prefix)_connections_refused_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.refused = refused
        var calls: [String: MethodCalls] = [:]
        for method in methods {
            calls[method] = MethodCalls(ok: Self.callCounter(prefix: prefix, method: method, code: .ok, factory: factory))
        }
        self.calls = calls
    }

    private static func callCounter(prefix: String, method: String, code: RPCStatus.Code, factory: any MetricsFactory) -> Counter {
        Counter(label: "\(prefix)_rpc_calls_total", dimensions: [("method", method), ("code", code.description)], factory: factory)
    }

    func handshakeFailed(_ error: TLSError) {
        self.handshakesFailed[HandshakeFailure(error)]?.increment()
    }

    func refused(_ reason: RefusalLogThrottle.Reason) {
        self.refused[reason]?.increment()
    }

    /// A call on `path` ended with `code`. `OK` costs one dictionary lookup and one
    /// atomic add; other codes make (or find) their handle in the factory, which is
    /// rarer and allowed to cost more.
    func callEnded(path: String, code: RPCStatus.Code) {
        guard let method = self.calls[path] else {
            guard !self.calls.isEmpty else { return }
            Self.callCounter(prefix: self.prefix, method: "unknown", code: code, factory: self.factory).increment()
            return
        }
        if code == .ok {
            method.ok.increment()
        } else {
            Self.callCounter(prefix: self.prefix, method: path, code: code, factory: self.factory).increment()
        }
    }
}

/// What the operations listener answers, as plain functions the handler calls:
/// the metrics text, and the liveness and readiness verdicts.
///
/// Each is `async` because each may wait (a readiness check asks etcd; a
/// scrape resolves the gate state per component): the HTTP handler runs it in
/// a task, off the event loop, and writes the answer back on the loop.
struct ProbeRoutes: Sendable {
    /// The Prometheus text exposition (format 0.0.4) of every metric.
    var metrics: @Sendable () async -> [UInt8]
    /// Liveness: the process is up and its event loops answer.
    var health: @Sendable () async -> ProbeVerdict
    /// Readiness: the store is open (and, over etcd, answers) and the RPC listener accepts.
    var readiness: @Sendable () async -> ProbeVerdict
}

/// A probe's verdict: ready (or alive), or why not in one line an operator can act on.
enum ProbeVerdict: Sendable, Equatable {
    case ok
    case failing(String)
}

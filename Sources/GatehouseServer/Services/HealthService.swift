import GatehouseProto
import GatehouseRPC
import NIOConcurrencyHelpers

/// `gatehouse.v1.Health`: whether the server is serving, for probes and
/// load balancers. Watchers are told of every change.
public final class HealthService: Sendable {
    public typealias Status = Gatehouse_V1_HealthCheckResponse.ServingStatus

    private struct State {
        var status: Status = .serving
        var watchers: [Int: AsyncStream<Status>.Continuation] = [:]
        var nextWatcher = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var status: Status {
        self.state.withLockedValue { $0.status }
    }

    /// Changes the status and tells every watcher.
    public func setStatus(_ status: Status) {
        let watchers = self.state.withLockedValue { state -> [AsyncStream<Status>.Continuation] in
            guard state.status != status else { return [] }
            state.status = status
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield(status) }
    }

    /// The names `Check` and `Watch` answer for: the whole server.
    static let knownServices: Set<String> = ["", "gatehouse"]

    var methods: [RPCMethod] {
        [
            .unary("/gatehouse.v1.Health/Check") { (request: Gatehouse_V1_HealthCheckRequest, _) in
                guard Self.knownServices.contains(request.service) else {
                    throw RPCError(.notFound, "unknown service \"\(request.service)\"; ask for \"\" or \"gatehouse\"")
                }
                return Gatehouse_V1_HealthCheckResponse.with { $0.status = self.status }
            },
            .serverStreaming("/gatehouse.v1.Health/Watch") { (request: Gatehouse_V1_HealthCheckRequest, writer: RPCMessageWriter<Gatehouse_V1_HealthCheckResponse>, _) in
                guard Self.knownServices.contains(request.service) else {
                    try await writer.write(.with { $0.status = .serviceUnknown })
                    return
                }
                let (changes, current) = self.watch()
                try await writer.write(.with { $0.status = current })
                for await status in changes {
                    try await writer.write(.with { $0.status = status })
                }
            },
        ]
    }

    /// The current status and a stream of later changes, registered atomically.
    private func watch() -> (AsyncStream<Status>, Status) {
        let (stream, continuation) = AsyncStream<Status>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let (id, current) = self.state.withLockedValue { state -> (Int, Status) in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            return (id, state.status)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLockedValue { $0.watchers.removeValue(forKey: id) }
        }
        return (stream, current)
    }
}

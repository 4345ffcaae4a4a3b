import CoreMetrics
import NIOCore
import Prometheus

/// Where the server picks its metrics backend: the only file that knows Prometheus.
///
/// Each server makes its own `PrometheusCollectorRegistry` and hands the rest
/// of the code a plain swift-metrics `MetricsFactory` over it. Nothing goes
/// through `MetricsSystem.bootstrap`, which is process-wide and once-only: two
/// servers in one process (the tests run many) keep apart, and a library that
/// embeds the server keeps whatever backend it bootstrapped for itself.
struct MetricsBackend: Sendable {
    /// What `/metrics` emits; nil when the server serves no metrics.
    let registry: PrometheusCollectorRegistry?
    /// Where every handle is made: over `registry`, or counting nothing.
    let factory: any MetricsFactory

    init(enabled: Bool) {
        guard enabled else {
            self.registry = nil
            self.factory = NOOPMetricsHandler.instance
            return
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A durable commit takes a millisecond or a few (one fsync, or one etcd round trip),
        // and a push less: the library's default buckets start at 5 ms and would see none of it.
        let latencies: [Duration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.durationHistogramBuckets[ServerMetrics.commitDuration] = latencies
        factory.durationHistogramBuckets[ServerMetrics.fanOutDuration] = latencies
        factory.valueHistogramBuckets[ServerMetrics.commitGroupSize] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        self.registry = registry
        self.factory = factory
    }

    /// The Prometheus text exposition of every metric in the registry.
    func exposition() -> [UInt8] {
        self.registry?.emitToBuffer() ?? []
    }
}

extension GatehouseServer {
    /// Starts the operations listener when one is configured; returns it and its address.
    func startProbes() async throws -> (ProbeServer, SocketAddress)? {
        guard let listener = self.configuration.metricsListener else { return nil }
        let routes = ProbeRoutes(
            metrics: { [sampler = self.sampler, backend = self.metricsBackend] in
                sampler.sample()
                return backend.exposition()
            },
            health: { [group = self.group] in await ServerReadiness.loopsAnswer(group, within: .seconds(2)) },
            readiness: { [readiness = self.readiness] in await readiness.readiness() }
        )
        let probes = ProbeServer(host: listener.host, port: listener.port, routes: routes, group: self.group, logger: self.logger)
        let address = try await probes.start()
        return (probes, address)
    }
}

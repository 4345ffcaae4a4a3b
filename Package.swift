// swift-tools-version:6.1
import PackageDescription

/// The store and the server are optimised across module boundaries in
/// release builds: the store is generic over the state it stores, and
/// without this its pipeline ran unspecialised on the hot path. Only targets
/// outside the library products get it: SwiftPM refuses unsafe flags in the
/// targets of a product another package depends on by version.
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
let crossModuleTargets: Set<String> = ["GatehouseStore", "GatehouseServer"]

/// Gatehouse: a feature-gate and API-activation service.
///
/// Modules depend strictly downwards (see `Sources/README.md`):
/// executables → Server / Client → RPC → TLS → COpenSSL, with generated
/// protobuf code in `GatehouseProto`.
let package = Package(
    name: "gatehouse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gatehouse", targets: ["gatehouse"]),
        .executable(name: "gatectl", targets: ["gatectl"]),
        .library(name: "GatehouseClient", targets: ["GatehouseClient"]),
        .library(name: "GatehouseSDK", targets: ["GatehouseSDK"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C shim over the system OpenSSL (Debian's libssl-dev).
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // The pure domain: features, APIs, overrides, resolution, safe changes. No I/O, no clock.
        // Overrides live in persistent hash trees, so a batch's new state shares all but what it changed.
        .target(
            name: "GatehouseCore",
            dependencies: [.product(name: "HashTreeCollections", package: "swift-collections")]
        ),
        // Domain values to and from their protobuf messages, for the server and the SDK.
        .target(
            name: "GatehouseWire",
            dependencies: ["GatehouseCore", "GatehouseProto", "GatehouseRPC"]
        ),
        // C shim over the system SQLite (Debian's libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Durable state: SQLite in WAL mode, group commit, audit. Generic over the state it stores.
        .target(
            name: "GatehouseStore",
            dependencies: [
                "CSQLite",
                "GatehouseCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test helper: commits as fast as it can and prints what was acknowledged, to be SIGKILLed.
        .executableTarget(
            name: "store-crash-writer",
            dependencies: ["GatehouseStore"],
            path: "Sources/GatehouseStoreCrashWriter"
        ),
        // Durable commits per second and latency at several concurrencies.
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: ["GatehouseStore"],
            path: "Benchmarks/StoreBenchmark"
        ),
        // Load against a live server over mTLS: the toggle benchmark and the crash test's writer.
        .executableTarget(
            name: "gatehouse-load",
            dependencies: [
                "GatehouseClient",
                "GatehouseCore",
                "GatehouseWire",
                "GatehouseTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/LoadGenerator"
        ),
        // etcd's own put rate through GatehouseEtcd's client, the baseline for the etcd backend's writes.
        .executableTarget(
            name: "etcd-put-bench",
            dependencies: [
                "GatehouseEtcd",
                "EtcdProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/EtcdPutBench"
        ),
        // Mutual TLS on OpenSSL, bridged to SwiftNIO. Knows nothing of features.
        .target(
            name: "GatehouseTLS",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Code generated from Proto/ by Scripts/generate-protos.sh. Never edited by hand.
        .target(
            name: "GatehouseProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // The subset of etcd's v3 API, generated from Proto/etcd/ by Scripts/generate-protos.sh.
        .target(
            name: "EtcdProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // etcd as a GateStore for several servers: an etcd v3 gRPC client over HTTP/2
        // (swift-nio-http2) on our OpenSSL TLS handler, the store, shared instances, election.
        .target(
            name: "GatehouseEtcd",
            dependencies: [
                "EtcdProto",
                "GatehouseCore",
                "GatehouseStore",
                "GatehouseTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // Frames, calls, status codes: the wire protocol of PROTOCOL.md. Domain-free.
        .target(
            name: "GatehouseRPC",
            dependencies: [
                "GatehouseTLS",
                // Counters only, through a factory the caller passes: no metrics backend here.
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The server: services, method table, development PKI, lifecycle.
        .target(
            name: "GatehouseServer",
            dependencies: [
                "GatehouseCore",
                "GatehouseStore",
                "GatehouseEtcd",
                "GatehouseWire",
                "GatehouseRPC",
                "GatehouseTLS",
                "GatehouseProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The Swift SDK: typed calls over one mTLS connection.
        .target(
            name: "GatehouseClient",
            dependencies: [
                "GatehouseCore",
                "GatehouseWire",
                "GatehouseRPC",
                "GatehouseTLS",
                "GatehouseProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The SDK components boot with: register, subscribe, a lock-free local cache,
        // reconnect and failover, acks, a last-known-good file and an offline policy.
        .target(
            name: "GatehouseSDK",
            dependencies: [
                "GatehouseCore",
                "GatehouseWire",
                "GatehouseRPC",
                "GatehouseTLS",
                "GatehouseProto",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // A component that boots with the SDK and prints what it is pushed.
        .executableTarget(
            name: "example-component",
            dependencies: [
                "GatehouseSDK",
                "GatehouseClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/ExampleComponent"
        ),
        .executableTarget(
            name: "gatehouse",
            dependencies: [
                "GatehouseServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // jemalloc (Debian's libjemalloc-dev) replaces glibc's malloc for the whole server:
            // its event loops, store queues and hub allocate on one thread and free on another,
            // which glibc's arenas pay for in locks. Measured at 64 writers: +6-15% by LD_PRELOAD
            // (3 rounds); linked, a median +4% over 8 pairs, within this machine's noise.
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]
        ),
        .executableTarget(
            name: "gatectl",
            dependencies: [
                "GatehouseClient",
                // The domain's flag parsers and parameter specs, and their wire forms, so
                // gatectl refuses bad input with the server's own words before a call.
                "GatehouseCore",
                "GatehouseWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Shared by the test targets: throwaway PKI, temporary directories.
        .target(
            name: "GatehouseTestUtils",
            dependencies: ["GatehouseTLS", "GatehouseSDK"]
        ),
        .testTarget(
            name: "GatehouseTLSTests",
            dependencies: [
                "GatehouseTLS",
                "GatehouseTestUtils",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatehouseRPCTests",
            dependencies: [
                "GatehouseRPC",
                "GatehouseTLS",
                "GatehouseTestUtils",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatehouseCoreTests",
            dependencies: [
                "GatehouseCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "GatehouseStoreTests",
            dependencies: ["GatehouseStore", "store-crash-writer"]
        ),
        // The etcd client, store and election against a real etcd (Scripts/etcd-cluster.sh starts one).
        .testTarget(
            name: "GatehouseEtcdTests",
            dependencies: [
                "GatehouseEtcd",
                "EtcdProto",
                "GatehouseStore",
                "GatehouseCore",
                "GatehouseTLS",
                "GatehouseTestUtils",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "GatehouseSDKTests",
            dependencies: [
                "GatehouseSDK",
                "GatehouseProto",
                "GatehouseCore",
                "GatehouseRPC",
                "GatehouseTLS",
                "GatehouseTestUtils",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // gatectl's argument parsing and output formatting, without a server.
        .testTarget(
            name: "GatectlTests",
            dependencies: [
                "gatectl",
                "GatehouseClient",
                "GatehouseProto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // Connection errors against a real server, another CA, and a listener that never answers.
                "GatehouseServer",
                "GatehouseTestUtils",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "GatehouseServerTests",
            dependencies: [
                "GatehouseServer",
                // Servers over a real etcd: LocalEtcd (shared with GatehouseEtcdTests through Support/) and its endpoints.
                "GatehouseEtcd",
                .product(name: "Logging", package: "swift-log"),
                "GatehouseSDK",
                "GatehouseCore",
                "GatehouseStore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Yams", package: "Yams"),
                "GatehouseClient",
                "GatehouseTestUtils",
                "GatehouseProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)

for target in package.targets where crossModuleTargets.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + crossModule
}

import Foundation
import Testing

/// `gatehouse serve`'s etcd flags as an operator meets them: `--help` teaches
/// them, and a wrong combination stops the server before it listens, with a
/// message naming the flag.
///
/// Runs the built `gatehouse` executable: `$GATEHOUSE_BIN` if set, else the
/// one beside the test bundle (`swift build --build-tests` builds it there),
/// else `<package root>/.build/debug/gatehouse`.
@Suite struct EtcdServeCommandTests {
    static func gatehouse(filePath: String = #filePath) -> String? {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["GATEHOUSE_BIN"] {
            return fileManager.isExecutableFile(atPath: override) ? override : nil
        }
        var candidates: [URL] = []
        var directory = Bundle.main.bundleURL
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent("gatehouse"))
            directory.deleteLastPathComponent()
        }
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/gatehouse"))
        return candidates.map(\.path).first { fileManager.isExecutableFile(atPath: $0) }
    }

    /// Runs `gatehouse serve <arguments>` to completion; returns its status, stdout and stderr.
    static func serve(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let executable = try #require(Self.gatehouse(), "gatehouse not found; run `swift build --build-tests` or set GATEHOUSE_BIN")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let (exited, exit) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in exit.finish() }
        try process.run()
        // Read before waiting: a child blocked on a full pipe never exits.
        async let out = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
        async let err = Task.detached { errors.fileHandleForReading.readDataToEndOfFile() }.value
        let (stdout, stderr) = await (out, err)
        for await _ in exited {}
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test func helpTeachesTheEtcdFlagsWithThreeServers() async throws {
        let help = try await Self.serve(["--help"])
        #expect(help.status == 0)
        for text in ["--store <store>", "--etcd-endpoints", "--etcd-ca", "--etcd-cert", "--etcd-key", "--etcd-prefix", "--etcd-timeout", "--server-id", "Three servers"] {
            #expect(help.output.contains(text), "\(text) is in --help")
        }
        let servers = help.output.split(separator: "\n").filter { $0.contains("gatehouse serve $ETCD") }
        #expect(servers.count == 3)
    }

    @Test func aWrongCombinationStopsBeforeListening() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try EtcdBackendSettingsTests.Files()
        defer { files.remove() }
        let common = ["--data-dir", directory, "--listen", "127.0.0.1:0"]
        let cases: [([String], String)] = [
            (["--store", "etcd"], "--store etcd needs --etcd-endpoints"),
            (["--store", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379"], "--store etcd needs --etcd-ca, --etcd-cert, --etcd-key"),
            (["--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-ca", files.ca, "--etcd-cert", files.cert, "--etcd-key", files.key], "use https://"),
            (["--store", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-ca", "\(directory)/none.crt", "--etcd-cert", files.cert, "--etcd-key", files.key], "--etcd-ca \(directory)/none.crt: no such file"),
            (["--store", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-ca", files.ca, "--etcd-cert", files.cert, "--etcd-key", files.key], "pass --server-id"),
            (["--store", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-ca", files.ca, "--etcd-cert", files.cert, "--etcd-key", files.key, "--etcd-timeout", "5"], "--etcd-timeout \"5\" is not a positive duration with a unit"),
            (["--etcd-endpoints", "https://127.0.0.1:2379", "--server-id", "a"], "--etcd-endpoints, --server-id apply only with --store etcd"),
            (["--store", "zookeeper"], "--store"),
        ]
        for (arguments, message) in cases {
            let result = try await Self.serve(common + arguments)
            #expect(result.status != 0, "\(arguments) was refused")
            #expect(!result.output.contains("listening on"), "\(arguments) did not listen")
            #expect(result.errors.contains(message), "\(arguments): \(result.errors)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/gatehouse.db"), "nothing was created for a refused start")
    }
}

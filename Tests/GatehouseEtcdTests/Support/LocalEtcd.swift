import Foundation
import GatehouseEtcd
import GatehouseTestUtils
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Real etcd members for tests: `/usr/bin/etcd` (3.4) processes on free
/// loopback ports, serving clients over TLS with client certificates
/// required (`--client-cert-auth`), certificates from ``TestPKI``.
///
/// Each instance owns a temporary directory (data dirs, logs, PKI) that
/// ``stop()`` removes; other engineers run etcd on this machine too, so
/// nothing here looks at processes it did not start. Members talk to each
/// other over plain HTTP on loopback: the tests are about the client's TLS,
/// and TestPKI's server certificate is for serverAuth only.
///
/// Start with ``start(members:)``, and always ``stop()`` (also when the test
/// fails: `defer { etcd.stop() }`); `deinit` kills whatever is left as a last resort.
final class LocalEtcd: Sendable {
    /// One member: its name, ports and process.
    struct Member: Sendable {
        let name: String
        let clientPort: Int
        let peerPort: Int
        let dataDirectory: String
        let logPath: String
        var endpoint: EtcdEndpoint { EtcdEndpoint(host: "127.0.0.1", port: self.clientPort) }
    }

    let pki: TestPKI
    let directory: String
    /// Where the members keep their data: in memory (/dev/shm) where there is one.
    let dataRoot: String
    let members: [Member]
    private let processes: Mutex<[Int: Process]>

    /// The members' client URLs, `https://127.0.0.1:port`, in member order.
    var endpoints: [EtcdEndpoint] { self.members.map(\.endpoint) }
    /// `--etcd-endpoints` for all members.
    var endpointList: String { self.endpoints.map(\.description).joined(separator: ",") }
    /// The CA that signed the members' certificates (`--etcd-ca`).
    var caPath: String { self.pki.caCertificatePath }
    /// A client certificate etcd accepts (`--etcd-cert`).
    var clientCertificatePath: String { self.pki.admin.certificatePath }
    /// Its key (`--etcd-key`).
    var clientKeyPath: String { self.pki.admin.keyPath }

    private init(pki: TestPKI, directory: String, dataRoot: String, members: [Member], processes: [Int: Process]) {
        self.pki = pki
        self.directory = directory
        self.dataRoot = dataRoot
        self.members = members
        self.processes = Mutex(processes)
    }

    deinit {
        self.processes.withLock { processes in
            for process in processes.values where process.isRunning {
                Glibc.kill(process.processIdentifier, SIGKILL)
            }
        }
    }

    /// A client configuration for these members (all of them unless `endpoints` says otherwise).
    func clientConfiguration(
        endpoints: [EtcdEndpoint]? = nil,
        callTimeout: TimeAmount = .seconds(15),  // generous: etcd shares two loaded cores with the whole suite
        connectTimeout: TimeAmount = .seconds(5)
    ) -> EtcdClientConfiguration {
        EtcdClientConfiguration(
            endpoints: endpoints ?? self.endpoints,
            trustRootsPath: self.caPath,
            certificatePath: self.clientCertificatePath,
            privateKeyPath: self.clientKeyPath,
            callTimeout: callTimeout,
            connectTimeout: connectTimeout
        )
    }

    /// Starts `count` members (1, or 3 for cluster tests) and waits until the
    /// cluster answers a linearizable read through every member.
    ///
    /// Ports are found free then handed to etcd, so another process may take
    /// one in between: a start that fails that way is retried with new ports.
    static func start(members count: Int = 1, timeout: Duration = .seconds(30)) async throws -> LocalEtcd {
        var lastError: (any Error)?
        for _ in 0..<3 {
            do {
                return try await self.startOnce(members: count, timeout: timeout)
            } catch let error as LocalEtcdError where error.mayBePortClash {
                lastError = error
            }
        }
        throw lastError!
    }

    private static func startOnce(members count: Int, timeout: Duration) async throws -> LocalEtcd {
        let pki = try TestPKI()
        let directory = pki.directory + "/etcd"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // etcd fsyncs every raft entry; on a disk shared with the SQLite crash tests one
        // fsync can take seconds, past the calls' deadlines. In memory an fsync is free,
        // and a SIGKILLed member still finds its data when restarted.
        let memory = "/dev/shm"
        let dataRoot = FileManager.default.isWritableFile(atPath: memory)
            ? "\(memory)/gatehouse-etcd-\(UUID().uuidString.prefix(8))" : directory
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        var members: [Member] = []
        for index in 1...count {
            members.append(Member(
                name: "m\(index)",
                clientPort: try freeLoopbackPort(),
                peerPort: try freeLoopbackPort(),
                dataDirectory: "\(dataRoot)/m\(index).data",
                logPath: "\(directory)/m\(index).log"
            ))
        }
        let cluster = members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
        let token = "gatehouse-test-\(UUID().uuidString.prefix(8))"
        var processes: [Int: Process] = [:]
        for (index, member) in members.enumerated() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
            process.arguments = [
                "--name", member.name,
                "--data-dir", member.dataDirectory,
                "--listen-client-urls", "https://127.0.0.1:\(member.clientPort)",
                "--advertise-client-urls", "https://127.0.0.1:\(member.clientPort)",
                "--listen-peer-urls", "http://127.0.0.1:\(member.peerPort)",
                "--initial-advertise-peer-urls", "http://127.0.0.1:\(member.peerPort)",
                "--initial-cluster", cluster,
                "--initial-cluster-token", token,
                "--initial-cluster-state", "new",
                "--cert-file", pki.serverCertificatePath,
                "--key-file", pki.serverKeyPath,
                "--trusted-ca-file", pki.caCertificatePath,
                "--client-cert-auth",
                // The HTTP/JSON gateway dials the member itself with the server certificate
                // as a client one; TestPKI's is serverAuth only, so it would retry refused
                // handshakes forever. Gatehouse speaks gRPC and needs no gateway.
                "--enable-grpc-gateway=false",
                "--logger", "zap",
                "--log-outputs", "stderr",
            ]
            guard FileManager.default.createFile(atPath: member.logPath, contents: nil) else {
                throw LocalEtcdError(message: "cannot create the member's log file \(member.logPath)", mayBePortClash: false)
            }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: member.logPath))
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            processes[index] = process
        }
        let etcd = LocalEtcd(pki: pki, directory: directory, dataRoot: dataRoot, members: members, processes: processes)
        do {
            try await etcd.waitUntilHealthy(timeout: timeout, requireAll: true)
            // A first write through raft, so the test's first call is not the cluster's.
            let (status, output) = try await etcd.etcdctl(["put", "/local-etcd/started", "1"])
            guard status == 0 else {
                throw LocalEtcdError(message: "the first write to the new etcd failed: \(output)", mayBePortClash: false)
            }
        } catch {
            etcd.stop()
            throw error
        }
        return etcd
    }

    /// Waits until `etcdctl endpoint health` (a linearizable read) succeeds on every running member.
    ///
    /// - Parameter requireAll: at start-up: a member that exited is an error
    ///   (its log says why), not a member to leave out.
    func waitUntilHealthy(timeout: Duration = .seconds(30), requireAll: Bool = false) async throws {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        var lastOutput = ""
        while clock.now < end {
            let running = self.processes.withLock { processes in processes.filter { $0.value.isRunning }.map(\.key) }
            guard running.count == self.members.count || !requireAll else {
                let logs = self.members.map { "\($0.name): " + Self.tail(of: $0.logPath) }.joined(separator: "\n")
                throw LocalEtcdError(message: "an etcd member exited during start-up:\n\(logs)", mayBePortClash: logs.contains("address already in use"))
            }
            let endpoints = running.sorted().map { self.members[$0].endpoint.description }.joined(separator: ",")
            let (status, output) = try await self.etcdctl(["--endpoints", endpoints, "endpoint", "health"])
            if status == 0 { return }
            lastOutput = output
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LocalEtcdError(message: "etcd did not become healthy within \(timeout): \(lastOutput)", mayBePortClash: false)
    }

    /// Runs `etcdctl` with our client certificate; returns its exit status and output.
    ///
    /// It waits on a thread of its own: a wait of up to three seconds on one of
    /// the two cooperative threads of this machine would stall every other
    /// test's timers meanwhile.
    @discardableResult
    func etcdctl(_ arguments: [String]) async throws -> (Int32, String) {
        try await runOffTheCooperativePool { try self.etcdctlBlocking(arguments) }
    }

    private func etcdctlBlocking(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        let hasEndpoints = arguments.contains("--endpoints")
        process.arguments = (hasEndpoints ? [] : ["--endpoints", self.endpointList]) + [
            "--cacert", self.caPath, "--cert", self.clientCertificatePath, "--key", self.clientKeyPath,
            "--dial-timeout", "1s", "--command-timeout", "2s",
        ] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["ETCDCTL_API"] = "3"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// SIGKILLs member `index` (0-based): a crash, no goodbye to clients or peers.
    func kill(member index: Int) {
        self.signal(member: index, SIGKILL, wait: true)
    }

    /// SIGSTOPs member `index`: it keeps its sockets but answers nothing (a hung or partitioned member).
    func pause(member index: Int) {
        self.signal(member: index, SIGSTOP, wait: false)
    }

    /// SIGCONTs a paused member.
    func resume(member index: Int) {
        self.signal(member: index, SIGCONT, wait: false)
    }

    /// Stops member `index` cleanly (SIGTERM), waiting for it to exit.
    func stop(member index: Int) {
        self.signal(member: index, SIGCONT, wait: false)
        self.signal(member: index, SIGTERM, wait: true)
    }

    /// Stops every member and removes the temporary directory (data, logs, PKI).
    func stop() {
        for index in self.members.indices {
            self.stop(member: index)
        }
        try? FileManager.default.removeItem(atPath: self.dataRoot)
        self.pki.remove()
    }

    private func signal(member index: Int, _ signal: Int32, wait: Bool) {
        guard let process = self.processes.withLock({ $0[index] }), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
        if wait {
            process.waitUntilExit()
        }
    }

    /// The last lines of a member's log, for failure messages.
    func log(member index: Int) -> String {
        Self.tail(of: self.members[index].logPath)
    }

    private static func tail(of path: String, lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// LocalEtcd could not start a cluster.
struct LocalEtcdError: Error, CustomStringConvertible {
    let message: String
    let mayBePortClash: Bool
    var description: String { self.message }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, released).
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw LocalEtcdError(message: "socket() failed: \(errno)", mayBePortClash: false) }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw LocalEtcdError(message: "bind() failed: \(errno)", mayBePortClash: false) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw LocalEtcdError(message: "getsockname() failed: \(errno)", mayBePortClash: false) }
    return Int(UInt16(bigEndian: address.sin_port))
}

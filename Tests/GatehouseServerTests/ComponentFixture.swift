import Foundation
import GatehouseClient
import GatehouseServer
import GatehouseTLS
import Synchronization

/// A live server with a small catalog and certificates for components, to subscribe against.
struct ComponentFixture {
    let directory: String
    let ca: CertificateAuthority
    let admin: GatehouseClient
    let adminConfig: ClientConfig

    static let catalog = """
        features:
          - name: Everywhere
            stage: beta
            default_enabled: false
          - name: KubeletOnly
            stage: alpha
            default_enabled: false
            components: [kubelet]
          - name: SchedulerOnly
            stage: alpha
            default_enabled: false
            components: [kube-scheduler]
            parameters:
              - name: weight
                type: int
                default: 1
                min: 0
                max: 100
        apis:
          - api: "batch/v1beta1"
            stage: beta
            components: [kube-apiserver]
        """

    static func start(_ running: GatehouseServerTests.Running, directory: String) async throws -> ComponentFixture {
        let pki = DevelopmentPKI(dataDirectory: directory)
        let ca = try CertificateAuthority(certificatePath: pki.caCertificate, privateKeyPath: pki.caKey)
        let config = try ClientConfigLoader.load(path: running.listening.adminConfig!)
        let admin = try await GatehouseClient.connect(config: config)
        return ComponentFixture(directory: directory, ca: ca, admin: admin, adminConfig: config)
    }

    func importCatalog() async throws -> UInt64 {
        let response: Gatehouse_V1_ImportCatalogResponse = try await self.admin.connection.unary(
            "/gatehouse.v1.Features/ImportCatalog",
            Gatehouse_V1_ImportCatalogRequest.with { $0.yaml = Self.catalog; $0.reason = "test" }
        )
        return response.revision
    }

    /// A client config whose certificate says CN=`component`, O=`role`.
    func config(for component: String, role: String = "component") throws -> ClientConfig {
        let name = "\(component)-\(role)"
        let certificate = "\(self.directory)/\(name).crt"
        if !FileManager.default.fileExists(atPath: certificate) {
            let issued = try self.ca.issue(.client, subject: CertificateSubject(commonName: component, organizations: [role]))
            try issued.write(certificateTo: certificate, keyTo: "\(self.directory)/\(name).key")
        }
        var config = self.adminConfig
        config.certificate = certificate
        config.key = "\(self.directory)/\(name).key"
        return config
    }

    /// Enables or disables a feature at a scope, as the admin; returns the revision.
    @discardableResult
    func set(_ feature: String, _ enabled: Bool, component: String? = nil, instance: String? = nil, params: [String: Int64] = [:]) async throws -> UInt64 {
        let request = Gatehouse_V1_SetRequest.with {
            $0.reason = "test"
            $0.changes = [
                .with {
                    $0.feature = feature
                    $0.enabled = enabled
                    for (name, value) in params { $0.params[name] = .with { $0.intValue = value } }
                    if let component, let instance {
                        $0.scope = .with { $0.instance = .with { $0.component = component; $0.instanceID = instance } }
                    } else if let component {
                        $0.scope = .with { $0.component = .with { $0.component = component } }
                    } else {
                        $0.scope = .with { $0.global = .init() }
                    }
                }
            ]
        }
        let response: Gatehouse_V1_SetResponse = try await self.admin.connection.unary("/gatehouse.v1.Features/Set", request)
        return response.revision
    }
}

/// One subscription, recording every message it is pushed.
final class RecordingSubscriber: Sendable {
    let component: String
    let instanceID: String
    let stream: RPCResponseMessages<Gatehouse_V1_SubscribeResponse>
    private let received = Mutex<[Gatehouse_V1_SubscribeResponse]>([])
    private let ended = Mutex<(any Error)??>(nil)
    private let reader = Mutex<Task<Void, Never>?>(nil)

    init(component: String, instanceID: String, stream: RPCResponseMessages<Gatehouse_V1_SubscribeResponse>) {
        self.component = component
        self.instanceID = instanceID
        self.stream = stream
    }

    static func subscribe(
        on connection: RPCClientConnection,
        component: String,
        instanceID: String,
        version: String = "1.31.0",
        since: UInt64? = nil,
        watchOnly: Bool = false
    ) async throws -> RecordingSubscriber {
        let request = Gatehouse_V1_SubscribeRequest.with {
            $0.start = .with {
                $0.component = component
                $0.instanceID = instanceID
                $0.version = version
                $0.watchOnly = watchOnly
                if let since { $0.sinceRevision = since }
            }
        }
        let stream = try await connection.serverStreaming(
            "/gatehouse.v1.Components/Subscribe",
            request,
            as: Gatehouse_V1_SubscribeResponse.self,
            endStream: false
        )
        let subscriber = RecordingSubscriber(component: component, instanceID: instanceID, stream: stream)
        let task = Task {
            do {
                for try await message in stream {
                    subscriber.received.withLock { $0.append(message) }
                }
                subscriber.ended.withLock { $0 = .some(nil) }
            } catch {
                subscriber.ended.withLock { $0 = .some(error) }
            }
        }
        subscriber.reader.withLock { $0 = task }
        return subscriber
    }

    var messages: [Gatehouse_V1_SubscribeResponse] {
        self.received.withLock { $0 }
    }

    var deltas: [Gatehouse_V1_Delta] {
        self.messages.compactMap { if case .delta(let delta) = $0.message { delta } else { nil } }
    }

    /// How the stream ended: nil while open, .some(nil) for OK, .some(error) otherwise.
    var end: (any Error)?? {
        self.ended.withLock { $0 }
    }

    func ack(_ revision: UInt64, error: Gatehouse_V1_AckError? = nil) async throws {
        try await self.stream.send(
            Gatehouse_V1_SubscribeRequest.with {
                $0.ack = .with {
                    $0.revision = revision
                    if let error { $0.error = error }
                }
            }
        )
    }

    func cancel() {
        self.stream.cancel()
    }

    /// Waits until `condition` holds for the received messages, or fails after `timeout`.
    func wait(
        for what: String,
        timeout: Duration = .seconds(10),
        _ condition: ([Gatehouse_V1_SubscribeResponse]) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(self.messages) {
            guard ContinuousClock.now < deadline else {
                throw WaitTimeout(description: "\(self.component)/\(self.instanceID): timed out waiting for \(what); got \(self.messages.count) messages")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    var description: String
}

extension Gatehouse_V1_SubscribeResponse {
    var heartbeatRevision: UInt64? {
        if case .heartbeat(let heartbeat) = self.message { heartbeat.revision } else { nil }
    }
}

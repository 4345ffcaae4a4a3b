import GatehouseClient
import GatehouseCore
import GatehouseRPC
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import GatehouseServer

/// The hub's hook for two-phase activation: which outlets are a component's
/// replicas, and that a Prepare is written in order with the pushes.
@Suite struct ReplicaOutletTests {
    /// A writer whose writes complete only when `completeNext()` says so, like a socket that drains slowly.
    final class GatedWriter: Sendable {
        let loop: EmbeddedEventLoop
        private let written = Mutex<[ByteBuffer]>([])
        private let pending = Mutex<[EventLoopPromise<Void>]>([])

        init(loop: EmbeddedEventLoop) { self.loop = loop }

        var onLoop: RPCLoopWriter {
            .init(eventLoop: self.loop) { bytes in
                self.written.withLock { $0.append(bytes) }
                let promise = self.loop.makePromise(of: Void.self)
                self.pending.withLock { $0.append(promise) }
                return promise.futureResult
            }
        }

        func completeNext() {
            let next = self.pending.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            next?.succeed(())
            self.loop.run()
        }

        func kinds() throws -> [String] {
            try self.written.withLock { $0 }.map {
                let message = try ProtobufCoding.decode(Gatehouse_V1_SubscribeResponse.self, from: $0, what: "m")
                return switch message.message {
                case .snapshot: "snapshot"
                case .delta: "delta"
                case .heartbeat: "heartbeat"
                case .prepare: "prepare"
                case .prepareCancel: "prepareCancel"
                case nil: "none"
                }
            }
        }
    }

    static func catalogState() throws -> GateState {
        var state = GateState()
        _ = try SubscriptionHubTests.commit(
            [.defineFeature(FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false))], to: &state)
        return state
    }

    static func subscribe(_ hub: SubscriptionHub, _ instance: InstanceRef, loop: EmbeddedEventLoop, watch: Bool = false) throws -> SubscriberOutlet {
        let writer = SubscriptionHubTests.RecordingWriter(loop: loop)
        let outlet = SubscriberOutlet(writer: writer.onLoop, limits: hub.configuration.queue, isWatch: watch) { _ in }
        outlet.start(try hub.join(instance, since: nil, outlet: outlet), revision: hub.revision)
        return outlet
    }

    @Test func aComponentsReplicasAreItsSubscribedInstancesNotItsWatchesNorOtherComponents() throws {
        let hub = SubscriptionHubTests.makeHub(try Self.catalogState())
        let loop = EmbeddedEventLoop()
        let first = try Self.subscribe(hub, SubscriptionHubTests.instance("kube-apiserver", "a1"), loop: loop)
        let other = try Self.subscribe(hub, SubscriptionHubTests.instance("kube-apiserver", "a2", "1.32.0"), loop: loop)
        _ = try Self.subscribe(hub, SubscriptionHubTests.instance("kube-apiserver", "a1"), loop: loop, watch: true)
        _ = try Self.subscribe(hub, InstanceRef(component: "kube-apiserver", instanceID: "", version: nil), loop: loop, watch: true)
        _ = try Self.subscribe(hub, SubscriptionHubTests.instance("kubelet", "a1"), loop: loop)

        var replicas = Dictionary(uniqueKeysWithValues: hub.replicaOutlets(of: "kube-apiserver").map { ($0.instance.instanceID, $0.outlet) })
        #expect(replicas.keys.sorted() == ["a1", "a2"])
        #expect(replicas["a1"] === first && replicas["a2"] === other)

        // A replica that resubscribed (its old stream not yet gone) is reached on its latest subscription.
        let again = try Self.subscribe(hub, SubscriptionHubTests.instance("kube-apiserver", "a1"), loop: loop)
        replicas = Dictionary(uniqueKeysWithValues: hub.replicaOutlets(of: "kube-apiserver").map { ($0.instance.instanceID, $0.outlet) })
        #expect(replicas["a1"] === again)
        #expect(hub.replicaOutlets(of: "kube-scheduler").isEmpty)
    }

    @Test func aPrepareIsWrittenAfterTheSnapshotAndAheadOfQueuedPushes() throws {
        var state = try Self.catalogState()
        let hub = SubscriptionHubTests.makeHub(state)
        let loop = EmbeddedEventLoop()
        let writer = GatedWriter(loop: loop)
        let outlet = SubscriberOutlet(writer: writer.onLoop, limits: hub.configuration.queue) { _ in }
        let join = try hub.join(SubscriptionHubTests.instance("kubelet", "n1"), since: nil, outlet: outlet)
        // Sent before the outlet started: it waits for the snapshot.
        let prepare = try ProtobufCoding.encode(Gatehouse_V1_SubscribeResponse.with { $0.prepare = .with { $0.id = "p1" } })
        outlet.sendControl(prepare)
        outlet.start(join, revision: hub.revision)
        hub.apply(try SubscriptionHubTests.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state))
        loop.run()
        #expect(try writer.kinds() == ["snapshot"], "one write in flight at a time")
        let cancel = try ProtobufCoding.encode(Gatehouse_V1_SubscribeResponse.with { $0.prepareCancel = .with { $0.id = "p1" } })
        outlet.sendControl(cancel)
        for _ in 0..<4 { writer.completeNext() }
        #expect(try writer.kinds() == ["snapshot", "prepare", "prepareCancel", "delta"])
    }
}

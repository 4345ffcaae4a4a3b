import GatehouseClient
import GatehouseCore
import GatehouseRPC
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import GatehouseServer

/// The hub, the outlets and the queues without a network: grouping, one
/// encoding per group, regrouping on instance overrides, resume, coalescing
/// and the cut-off. Outlets run on an `EmbeddedEventLoop` with a recording writer.
@Suite struct SubscriptionHubTests {
    static let catalog = Catalog(
        features: [
            FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false),
            FeatureDefinition(name: "K", components: ["kubelet"], stage: .beta, defaultEnabled: true),
        ],
        apis: []
    )

    /// A writer that records what it is given; `complete` false leaves writes pending, like a full socket.
    final class RecordingWriter: Sendable {
        let loop: EmbeddedEventLoop
        let complete: Bool
        private let written = Mutex<[ByteBuffer]>([])
        private let pending = Mutex<[EventLoopPromise<Void>]>([])

        init(loop: EmbeddedEventLoop, complete: Bool = true) {
            self.loop = loop
            self.complete = complete
        }

        var onLoop: RPCLoopWriter {
            .init(eventLoop: self.loop) { bytes in
                self.written.withLock { $0.append(bytes) }
                if self.complete { return self.loop.makeSucceededFuture(()) }
                let promise = self.loop.makePromise(of: Void.self)
                self.pending.withLock { $0.append(promise) }
                return promise.futureResult
            }
        }

        var messages: [ByteBuffer] { self.written.withLock { $0 } }

        func decoded() throws -> [Gatehouse_V1_SubscribeResponse] {
            try self.messages.map { try ProtobufCoding.decode(Gatehouse_V1_SubscribeResponse.self, from: $0, what: "m") }
        }

        func failPending() {
            for promise in self.pending.withLock({ $0 }) { promise.fail(RPCError(.cancelled, "gone")) }
        }
    }

    static func commit(_ changes: [Change], to state: inout GateState) throws -> BatchSummary {
        // The hub's tests name components no catalog or instance does; the unknown-component
        // rule is BatchApplier's and tested there.
        let batch = ChangeBatch(changes: changes, actor: "t", allowsUnknownComponents: true)
        let applied = try BatchApplier().apply(batch, to: state, at: UnixMilliseconds(1), liveInstances: [])
        state = applied.state
        return applied.summary
    }

    static func makeHub(_ state: GateState, history: [BatchSummary] = []) -> SubscriptionHub {
        SubscriptionHub(initial: state, history: history, configuration: .init(), logger: Logger(label: "test"), now: { 0 })
    }

    static func instance(_ component: String, _ id: String, _ version: String = "1.31.0") -> InstanceRef {
        InstanceRef(component: component, instanceID: id, version: try! Version(parsing: version))
    }

    static func subscribe(_ hub: SubscriptionHub, _ instance: InstanceRef, writer: RecordingWriter, limits: SubscriberQueue.Limits? = nil) throws -> SubscriberOutlet {
        let outlet = SubscriberOutlet(writer: writer.onLoop, limits: limits ?? hub.configuration.queue) { _ in }
        let join = try hub.join(instance, since: nil, outlet: outlet)
        outlet.start(join, revision: hub.revision)
        return outlet
    }

    @Test func subscribersWithIdenticalInputsShareOneGroupAndOneEncoding() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let hub = Self.makeHub(state)
        let loop = EmbeddedEventLoop()
        var writers: [String: RecordingWriter] = [:]
        for (component, id, version) in [("kubelet", "n1", "1.31.0"), ("kubelet", "n2", "1.31.0"), ("kubelet", "n3", "1.30.0"), ("kube-apiserver", "a1", "1.31.0")] {
            let writer = RecordingWriter(loop: loop)
            _ = try Self.subscribe(hub, Self.instance(component, id, version), writer: writer)
            writers[id] = writer
        }
        #expect(hub.counts.subscribers == 4 && hub.counts.groups == 3)
        #expect(writers.values.allSatisfy { $0.messages.count == 1 }, "each got its snapshot")

        hub.apply(try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state))
        loop.run()
        let n1 = try #require(writers["n1"]!.messages.last)
        let n2 = try #require(writers["n2"]!.messages.last)
        #expect(writers["n1"]!.messages.count == 2)
        #expect(n1.readableBytesView.withUnsafeBytes { $0.baseAddress } == n2.readableBytesView.withUnsafeBytes { $0.baseAddress }, "one encoding, shared")
        #expect(writers["a1"]!.messages.count == 1, "the apiserver is not affected")

        // An override of n1's own moves it to a group of its own, with its new state.
        hub.apply(try Self.commit([.setFeature("K", scope: .instance(component: "kubelet", id: "n1"), enabled: false)], to: &state))
        loop.run()
        #expect(hub.counts.groups == 4)
        guard case .delta(let delta)? = try writers["n1"]!.decoded().last?.message else {
            Issue.record("n1 was not sent its new state")
            return
        }
        #expect(delta.features.map(\.name) == ["K"] && delta.features.first?.enabled == false && delta.revision == state.revision.rawValue)
        #expect(writers["n2"]!.messages.count == 2)
    }

    @Test func aBatchResolvesOnlyTheGroupsWhoseInputsItWrote() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        _ = try Self.commit([.setFeature("K", scope: .instance(component: "kubelet", id: "n9"), enabled: false)], to: &state)
        let hub = Self.makeHub(state)
        let loop = EmbeddedEventLoop()
        let writers = (0..<4).map { _ in RecordingWriter(loop: loop) }
        // Groups: kubelet (n1, n2), kubelet/n9 (its own override), kube-apiserver.
        for (index, (component, id)) in [("kubelet", "n1"), ("kubelet", "n2"), ("kubelet", "n9"), ("kube-apiserver", "a1")].enumerated() {
            _ = try Self.subscribe(hub, Self.instance(component, id), writer: writers[index])
        }
        #expect(hub.counts.groups == 3)

        func resolutions(_ changes: [Change]) throws -> Int {
            let before = hub.groupsResolved
            hub.apply(try Self.commit(changes, to: &state))
            loop.run()
            return hub.groupsResolved - before
        }
        #expect(try resolutions([.setFeature("A", scope: .instance(component: "kubelet", id: "n9"), enabled: true)]) == 1, "only n9's own group")
        #expect(try resolutions([.setFeature("A", scope: .instance(component: "kubelet", id: "n5"), enabled: true)]) == 0, "an instance nobody subscribes as")
        #expect(try resolutions([.setFeature("A", scope: .component("kube-apiserver"), enabled: true)]) == 1)
        #expect(try resolutions([.setFeature("K", scope: .component("kubelet"), enabled: false)]) == 2, "the shared kubelet group and n9's")
        #expect(try resolutions([.setFeature("A", scope: .global, enabled: true)]) == 3)
        #expect(try resolutions([.defineFeature(FeatureDefinition(name: "B", stage: .beta, defaultEnabled: true))]) == 3, "a catalog change reaches everyone")
        // What each subscriber was sent is still exactly what changed for it.
        #expect(try writers[0].decoded().count == 4, "snapshot, K off, A on, B defined")
        #expect(try writers[2].decoded().count == 3, "snapshot, A on at n9, B defined: K off at the component and A on globally change nothing for n9")
        #expect(try writers[3].decoded().count == 3, "snapshot, A on, B defined (A global changes nothing: already on)")
    }

    /// The hub's task applies everything published since it last ran in one
    /// call; batches that arrive out of order are held back until the gap fills.
    @Test func batchesAppliedTogetherAreAppliedInRevisionOrder() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let hub = Self.makeHub(state)
        let loop = EmbeddedEventLoop()
        let writer = RecordingWriter(loop: loop)
        _ = try Self.subscribe(hub, Self.instance("kubelet", "n1"), writer: writer)
        let first = try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state)
        let second = try Self.commit([.setFeature("K", scope: .component("kubelet"), enabled: false)], to: &state)
        let third = try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: false)], to: &state)

        let before = hub.revision
        hub.apply([second])
        #expect(hub.revision == before, "held back until the batch before it arrives")
        hub.apply([third, first])
        loop.run()
        #expect(hub.revision == third.revision)
        let deltas = try writer.decoded().dropFirst().compactMap { message -> Gatehouse_V1_Delta? in
            if case .delta(let delta)? = message.message { return delta }
            return nil
        }
        #expect(deltas.map(\.revision) == [first, second, third].map(\.revision.rawValue))
        #expect(deltas.map { $0.features.map(\.name) } == [["A"], ["K"], ["A"]])
    }

    /// The store's writer completes a group's submissions one after another:
    /// the hub's task is woken once, by the last, and then applies them all.
    @Test func batchesPublishedWithinAGroupWaitForItsLastToWakeTheHub() async throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let hub = Self.makeHub(state)
        let running = Task { await hub.run() }
        defer { running.cancel() }
        let first = try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state)
        let second = try Self.commit([.setFeature("K", scope: .component("kubelet"), enabled: false)], to: &state)
        let before = hub.revision

        hub.publish(first, endsGroup: false)
        hub.publish(second, endsGroup: false)
        try await Task.sleep(for: .milliseconds(100))
        #expect(hub.revision == before, "not woken before the group's last completion")
        // The group's last submission changed nothing: it only ends the group.
        hub.publish(nil, endsGroup: true)
        try await SubscriptionTests.eventually("the hub applied both") { hub.revision == second.revision }
        hub.close()
    }

    @Test func resumeWithinHistoryReplaysOnlyWhatChangedForTheInstance() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let start = state.revision
        var summaries: [BatchSummary] = []
        summaries.append(try Self.commit([.setFeature("A", scope: .component("kube-apiserver"), enabled: true)], to: &state))
        summaries.append(try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state))
        let hub = Self.makeHub(state, history: summaries)
        let writer = RecordingWriter(loop: EmbeddedEventLoop())
        let outlet = SubscriberOutlet(writer: writer.onLoop, limits: hub.configuration.queue) { _ in }
        let join = try hub.join(Self.instance("kubelet", "n1"), since: start, outlet: outlet)
        #expect(join.resumed)
        let messages = try join.initial.map { try ProtobufCoding.decode(Gatehouse_V1_SubscribeResponse.self, from: $0, what: "m") }
        #expect(messages.count == 2)
        guard case .delta(let delta)? = messages.first?.message, case .heartbeat(let heartbeat)? = messages.last?.message else {
            Issue.record("expected a delta and a heartbeat: \(messages)")
            return
        }
        #expect(delta.revision == state.revision.rawValue && delta.baseRevision == start.rawValue)
        #expect(heartbeat.revision == state.revision.rawValue)

        let other = SubscriberOutlet(writer: writer.onLoop, limits: hub.configuration.queue) { _ in }
        let fresh = try hub.join(Self.instance("kubelet", "n2"), since: Revision(0), outlet: other)
        #expect(!fresh.resumed, "revision 0 is older than the two batches kept")
    }

    @Test func aSubscriberWhoseSocketIsFullIsCoalescedThenCutOff() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let hub = Self.makeHub(state)
        let loop = EmbeddedEventLoop()
        let stuck = RecordingWriter(loop: loop, complete: false)
        let outlet = try Self.subscribe(hub, Self.instance("kubelet", "n1"), writer: stuck, limits: .init(queueLimit: 2, cutoffAfter: 6))
        for index in 0..<6 {
            hub.apply(try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: index % 2 == 0)], to: &state))
        }
        loop.run()
        #expect(stuck.messages.count == 1, "only the snapshot is in flight")
        #expect(outlet.coalesced == 4)
        let ended = Mutex<RPCError?>(nil)
        outlet.ended.whenSuccess { reason in ended.withLock { $0 = reason } }
        hub.apply(try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state))
        loop.run()
        #expect(ended.withLock { $0?.code } == .resourceExhausted)
        stuck.failPending()
    }

    static func push(_ revision: UInt64) -> SubscriberPush {
        .groupDelta(ByteBuffer(string: "r\(revision)"), base: Revision(revision - 1), state: PushState(revision: Revision(revision)))
    }

    @Test func aFullQueueCoalescesIntoTheLatestState() {
        var queue = SubscriberQueue(limits: .init(queueLimit: 3, cutoffAfter: 100))
        for revision in 1...3 { #expect(queue.deliver(Self.push(UInt64(revision))) == .queued) }
        #expect(queue.deliver(.heartbeat(ByteBuffer(string: "hb"))) == .dropped)
        for revision in 4...10 { #expect(queue.deliver(Self.push(UInt64(revision))) == .coalesced) }
        guard case .latest(let state, let revision)? = queue.next() else {
            Issue.record("expected the coalesced state")
            return
        }
        #expect(state.revision == 10 && revision == 10)
        #expect(queue.next() == nil, "one state replaces ten messages")
    }

    @Test func aSubscriberThatNeverCompletesAWriteIsCutOff() {
        var queue = SubscriberQueue(limits: .init(queueLimit: 2, cutoffAfter: 5))
        for revision in 1...5 { _ = queue.deliver(Self.push(UInt64(revision))) }
        queue.wrote()
        for revision in 6...10 { _ = queue.deliver(Self.push(UInt64(revision))) }
        guard case .cutOff(let error) = queue.deliver(Self.push(11)) else {
            Issue.record("the sixth change without a write must cut the subscriber off")
            return
        }
        #expect(error.code == .resourceExhausted)
    }
}

import GatehouseClient
import GatehouseCore
import GatehouseRPC
import Logging
import NIOCore
import Testing

@testable import GatehouseServer

/// The hub and the mailboxes without a network: grouping, one encoding per
/// group, regrouping on instance overrides, coalescing and the cut-off.
@Suite struct SubscriptionHubTests {
    static let catalog = Catalog(
        features: [
            FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false),
            FeatureDefinition(name: "K", components: ["kubelet"], stage: .beta, defaultEnabled: true),
        ],
        apis: []
    )

    static func commit(_ changes: [Change], to state: inout GateState) throws -> BatchSummary {
        let applied = try BatchApplier().apply(ChangeBatch(changes: changes, actor: "t"), to: state, at: UnixMilliseconds(1), liveInstances: [])
        state = applied.state
        return applied.summary
    }

    static func makeHub(_ state: GateState, queueLimit: Int = 64, cutoffAfter: Int = 4096) -> SubscriptionHub {
        var configuration = SubscriptionHub.Configuration()
        configuration.mailbox = .init(queueLimit: queueLimit, cutoffAfter: cutoffAfter)
        return SubscriptionHub(initial: state, history: [], configuration: configuration, logger: Logger(label: "test"), now: { 0 })
    }

    static func instance(_ component: String, _ id: String, _ version: String = "1.31.0") -> InstanceRef {
        InstanceRef(component: component, instanceID: id, version: try! Version(parsing: version))
    }

    @Test func subscribersWithIdenticalInputsShareOneGroupAndOneEncoding() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let hub = Self.makeHub(state)
        var mailboxes: [String: SubscriberMailbox] = [:]
        for (component, id, version) in [("kubelet", "n1", "1.31.0"), ("kubelet", "n2", "1.31.0"), ("kubelet", "n3", "1.30.0"), ("kube-apiserver", "a1", "1.31.0")] {
            let mailbox = SubscriberMailbox(limits: hub.configuration.mailbox)
            _ = try hub.join(Self.instance(component, id, version), since: nil, mailbox: mailbox)
            mailboxes[id] = mailbox
        }
        #expect(hub.counts.subscribers == 4 && hub.counts.groups == 3)

        hub.apply(try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state))
        let n1 = try #require(Self.pending(mailboxes["n1"]!).first)
        let n2 = try #require(Self.pending(mailboxes["n2"]!).first)
        guard case .groupDelta(let bytes1, _, _) = n1, case .groupDelta(let bytes2, _, _) = n2 else {
            Issue.record("expected group deltas, got \(n1) and \(n2)")
            return
        }
        #expect(bytes1.readableBytesView.withUnsafeBytes { $0.baseAddress } == bytes2.readableBytesView.withUnsafeBytes { $0.baseAddress }, "one encoding, shared")
        #expect(Self.pending(mailboxes["a1"]!).isEmpty, "the apiserver is not affected")

        // An override of n1's own moves it to a group of its own, with its new state.
        hub.apply(try Self.commit([.setFeature("K", scope: .instance(component: "kubelet", id: "n1"), enabled: false)], to: &state))
        #expect(hub.counts.groups == 4)
        let moved = Self.pending(mailboxes["n1"]!)
        guard case .latest(let latest, let revision)? = moved.first else {
            Issue.record("n1 was not told its new state: \(moved)")
            return
        }
        #expect(latest.features["K"]?.enabled == false && revision == state.revision)
        #expect(Self.pending(mailboxes["n2"]!).isEmpty)
    }

    @Test func resumeWithinHistoryReplaysOnlyWhatChangedForTheInstance() throws {
        var state = GateState()
        _ = try Self.commit(Self.catalog.features.map(Change.defineFeature), to: &state)
        let start = state.revision
        var summaries: [BatchSummary] = []
        summaries.append(try Self.commit([.setFeature("A", scope: .component("kube-apiserver"), enabled: true)], to: &state))
        summaries.append(try Self.commit([.setFeature("A", scope: .component("kubelet"), enabled: true)], to: &state))
        let hub = SubscriptionHub(initial: state, history: summaries, configuration: .init(), logger: Logger(label: "t"), now: { 0 })
        let join = try hub.join(Self.instance("kubelet", "n1"), since: start, mailbox: SubscriberMailbox(limits: hub.configuration.mailbox))
        #expect(join.resumed)
        let messages = try join.initial.map { try ProtobufCoding.decode(Gatehouse_V1_SubscribeResponse.self, from: $0, what: "m") }
        #expect(messages.count == 2)
        guard case .delta(let delta)? = messages.first?.message, case .heartbeat(let heartbeat)? = messages.last?.message else {
            Issue.record("expected a delta and a heartbeat: \(messages)")
            return
        }
        #expect(delta.revision == state.revision.rawValue && delta.baseRevision == start.rawValue)
        #expect(heartbeat.revision == state.revision.rawValue)

        let fresh = try hub.join(Self.instance("kubelet", "n2"), since: Revision(0), mailbox: SubscriberMailbox(limits: hub.configuration.mailbox))
        #expect(!fresh.resumed, "revision 0 is older than the two batches kept")
    }

    static func pending(_ mailbox: SubscriberMailbox) -> [SubscriberPush] {
        var pushes: [SubscriberPush] = []
        while let push = mailbox.poll() { pushes.append(push) }
        return pushes
    }

    static func push(_ revision: UInt64) -> SubscriberPush {
        .groupDelta(ByteBuffer(string: "r\(revision)"), base: Revision(revision - 1), state: PushState(revision: Revision(revision)))
    }

    @Test func aFullMailboxCoalescesIntoTheLatestState() async {
        let mailbox = SubscriberMailbox(limits: .init(queueLimit: 3, cutoffAfter: 100))
        for revision in 1...3 { #expect(mailbox.deliver(Self.push(UInt64(revision)))) }
        mailbox.deliver(.heartbeat(ByteBuffer(string: "hb")))
        #expect(mailbox.coalescedCount == 0)
        for revision in 4...10 { mailbox.deliver(Self.push(UInt64(revision))) }
        #expect(mailbox.coalescedCount == 7)
        guard case .latest(let state, let revision)? = await mailbox.next() else {
            Issue.record("expected the coalesced state")
            return
        }
        #expect(state.revision == 10 && revision == 10)
        #expect(Self.pending(mailbox).isEmpty, "nothing else is queued: one state replaces ten messages")
    }

    @Test func aSubscriberThatNeverCompletesAWriteIsCutOff() async {
        let mailbox = SubscriberMailbox(limits: .init(queueLimit: 2, cutoffAfter: 5))
        for revision in 1...5 { #expect(mailbox.deliver(Self.push(UInt64(revision)))) }
        mailbox.wrote()
        for revision in 6...10 { #expect(mailbox.deliver(Self.push(UInt64(revision)))) }
        #expect(!mailbox.deliver(Self.push(11)), "the sixth change without a write cuts it off")
        let reason = await mailbox.waitUntilEnded()
        #expect(reason.code == .resourceExhausted)
        let next = await mailbox.next()
        #expect(next == nil)
    }

    @Test func heartbeatsAreNotQueuedBehindData() {
        let mailbox = SubscriberMailbox(limits: .init(queueLimit: 8, cutoffAfter: 100))
        mailbox.deliver(.heartbeat(ByteBuffer(string: "1")))
        mailbox.deliver(Self.push(1))
        mailbox.deliver(.heartbeat(ByteBuffer(string: "2")))
        let pending = Self.pending(mailbox)
        #expect(pending.count == 2)
    }
}

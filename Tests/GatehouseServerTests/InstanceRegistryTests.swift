import GatehouseCore
import Synchronization
import Testing

@testable import GatehouseServer

/// The registry's live replicas: what the skew guard sees, kept current as replicas come and go.
@Suite struct InstanceRegistryTests {
    @Test func liveReplicasFollowConnectionsAndVersions() throws {
        let registry = InstanceRegistry(now: { 0 })
        let node1 = InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 31, 2))
        let node2 = InstanceRef(component: "kubelet", instanceID: "node-2", version: Version(1, 30, 0))
        #expect(registry.liveReplicas().isEmpty)

        try registry.register(node1, labels: [:], identity: "kubelet")
        #expect(registry.liveReplicas().isEmpty, "registered is not live: the open subscription is")
        try registry.subscribed(node1, identity: "kubelet")
        try registry.subscribed(node2, identity: "kubelet")
        #expect(Set(registry.liveReplicas().all) == [node1, node2])

        // Acks and pushes leave the replicas as they are.
        registry.acked(.init(component: "kubelet", instanceID: "node-1"), revision: Revision(3))
        registry.pushed(.init(component: "kubelet", instanceID: "node-2"), revision: Revision(3))
        #expect(Set(registry.liveReplicas().all) == [node1, node2])

        // An upgrade is seen at once.
        let upgraded = InstanceRef(component: "kubelet", instanceID: "node-2", version: Version(1, 31, 0))
        try registry.register(upgraded, labels: [:], identity: "kubelet")
        #expect(registry.liveReplicas().instance(component: "kubelet", id: "node-2")?.version == Version(1, 31, 0))

        registry.unsubscribed(.init(component: "kubelet", instanceID: "node-1"))
        #expect(registry.liveReplicas().all == [upgraded])
    }

    /// A component holds at most its capacity of instances; a full one makes room
    /// only by forgetting an instance disconnected for longer than the grace.
    @Test func aFullComponentReplacesOnlyItsLongestDisconnectedInstance() throws {
        let clock = Mutex<Int64>(0)
        let registry = InstanceRegistry(now: { clock.withLock { $0 } }, capacity: .init(maxPerComponent: 3, evictAfterMilliseconds: 1_000))
        func kubelet(_ id: String) -> InstanceRef { InstanceRef(component: "kubelet", instanceID: id, version: Version(1, 31, 0)) }

        try registry.register(kubelet("a"), labels: [:], identity: "kubelet")
        clock.withLock { $0 = 100 }
        try registry.register(kubelet("b"), labels: [:], identity: "kubelet")
        try registry.subscribed(kubelet("c"), identity: "kubelet")
        // Full, and a and b (registered, never connected) are not yet gone long enough.
        clock.withLock { $0 = 900 }
        let full = #expect(throws: InstanceRegistry.Full.self) { try registry.register(kubelet("d"), labels: [:], identity: "kubelet") }
        #expect(full?.limit == 3)
        #expect(full?.retryAfterMilliseconds == 101, "a was last seen at 0: it may go after 1,000 ms, 101 ms from now")
        #expect(throws: InstanceRegistry.Full.self) { try registry.subscribed(kubelet("d"), identity: "kubelet") }
        #expect(throws: InstanceRegistry.Full.self) { try registry.admit(kubelet("d")) }
        try registry.admit(kubelet("a"))
        #expect(registry.count(component: "kubelet") == 3, "admitting records nothing")
        // Known instances still register again, and other components have their own room.
        try registry.register(kubelet("b"), labels: ["zone": "z"], identity: "kubelet")
        try registry.register(InstanceRef(component: "kube-proxy", instanceID: "a", version: nil), labels: [:], identity: "kube-proxy")

        // Past the grace, the longest-disconnected (a, seen at 0; b was seen again at 900) makes room.
        clock.withLock { $0 = 1_001 }
        try registry.register(kubelet("d"), labels: [:], identity: "kubelet")
        #expect(registry.list(component: "kubelet").map(\.key.instanceID) == ["b", "c", "d"])
        #expect(registry.count(component: "kubelet") == 3)

        // Connected instances are never forgotten: with every one live, a new one is refused.
        try registry.subscribed(kubelet("b"), identity: "kubelet")
        try registry.subscribed(kubelet("d"), identity: "kubelet")
        clock.withLock { $0 = 1_000_000 }
        let live = #expect(throws: InstanceRegistry.Full.self) { try registry.register(kubelet("e"), labels: [:], identity: "kubelet") }
        #expect(live?.retryAfterMilliseconds == nil)
        // One disconnects; after the grace it is the one replaced.
        registry.unsubscribed(.init(component: "kubelet", instanceID: "c"))
        clock.withLock { $0 = 1_001_001 }
        try registry.register(kubelet("e"), labels: [:], identity: "kubelet")
        #expect(registry.list(component: "kubelet").map(\.key.instanceID) == ["b", "d", "e"])
        #expect(Set(registry.liveReplicas().all.map(\.instanceID)) == ["b", "d"])
    }

    /// What a NACK carries is kept eight times per instance: each part is cut to its bound.
    @Test func nacksKeepBoundedText() throws {
        let registry = InstanceRegistry(now: { 7 })
        let node = InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 31, 0))
        try registry.subscribed(node, identity: "kubelet")
        let huge = String(repeating: "é", count: 600_000)
        registry.nacked(
            .init(component: "kubelet", instanceID: "node-1"),
            .init(revision: Revision(1), reason: huge, message: huge, entries: Array(repeating: huge, count: 1_000), timeUnixMilliseconds: 0)
        )
        let nack = try #require(registry.list().first?.nacks.first)
        #expect(nack.reason.utf8.count == InstanceRegistry.nackReasonOctets)
        #expect(nack.message.utf8.count == InstanceRegistry.nackMessageOctets)
        #expect(nack.entries.count == InstanceRegistry.nackEntriesKept)
        #expect(nack.entries.allSatisfy { $0.utf8.count <= InstanceRegistry.nackEntryOctets && $0.allSatisfy { $0 == "é" } })
        #expect(nack.timeUnixMilliseconds == 7)
    }

    /// A health report is kept bounded like a NACK (never refused), stamped with
    /// the server's time, and stands across a reconnect; the disconnect time is
    /// recorded when the last live subscription ends and cleared when one opens.
    @Test func healthReportsAreBoundedAndDisconnectsAreTimed() throws {
        let clock = Mutex<Int64>(1_000)
        let registry = InstanceRegistry(now: { clock.withLock { $0 } })
        let node = InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 31, 0))
        let key = InstanceRegistry.Key(component: "kubelet", instanceID: "node-1")
        try registry.subscribed(node, identity: "kubelet")
        #expect(registry.record(key)?.disconnectedAtUnixMilliseconds == nil)

        let long = String(repeating: "é", count: 600)  // 1,200 octets
        registry.reportedHealth(
            key,
            .init(healthy: false, message: long, entries: (0..<40).map { "Feature\($0)" + String(repeating: "x", count: 300) }, checkedAtUnixMilliseconds: 5)
        )
        let health = try #require(registry.record(key)?.health)
        #expect(!health.healthy)
        #expect(health.message.utf8.count == 1_024 && health.message.allSatisfy { $0 == "é" }, "cut on a character boundary")
        #expect(health.entries.count == InstanceRegistry.healthEntriesKept)
        #expect(health.entries.allSatisfy { $0.utf8.count == InstanceRegistry.healthEntryOctets })
        #expect(health.checkedAtUnixMilliseconds == 5 && health.receivedAtUnixMilliseconds == 1_000)

        clock.withLock { $0 = 2_000 }
        registry.unsubscribed(key)
        #expect(registry.record(key)?.disconnectedAtUnixMilliseconds == 2_000)
        clock.withLock { $0 = 3_000 }
        try registry.subscribed(node, identity: "kubelet")
        #expect(registry.record(key)?.disconnectedAtUnixMilliseconds == nil)
        #expect(registry.record(key)?.health?.healthy == false, "the latest word stands until the instance says another")
        #expect(ComponentService.wire(registry.record(key)!).health.message == health.message)

        // A resumed subscription says which revision it holds: an ack, never a step back.
        registry.resumed(key, holding: Revision(7))
        #expect(registry.record(key)?.appliedRevision == Revision(7))
        registry.resumed(key, holding: Revision(5))
        #expect(registry.record(key)?.appliedRevision == Revision(7))
    }
}

import GatehouseCore
import GatehouseProto
import Synchronization
import Testing

@testable import GatehouseServer

/// The registry's side of sharing instances between servers: own changes
/// coalesced for writing, other servers' records merged into every view,
/// one record per instance when it moved, and nothing of it on a single server.
@Suite struct SharedInstancesRegistryTests {
    static let kubelet = "kubelet"

    static func ref(_ id: String, _ version: Version = Version(1, 31, 0)) -> InstanceRef {
        InstanceRef(component: Self.kubelet, instanceID: id, version: version)
    }

    static func key(_ id: String) -> InstanceRegistry.Key {
        .init(component: Self.kubelet, instanceID: id)
    }

    /// Another server's record as it would arrive from etcd.
    static func foreign(_ id: String, server: String, connected: Bool, lastSeen: Int64, labels: [String: String] = [:]) -> InstanceRegistry.Record {
        InstanceRegistry.Record(
            key: Self.key(id), version: "1.31.0", parsedVersion: Version(1, 31, 0), labels: labels, identity: Self.kubelet,
            registeredAtUnixMilliseconds: 0, lastSeenUnixMilliseconds: lastSeen, subscriptions: connected ? 1 : 0,
            disconnectedAtUnixMilliseconds: connected ? nil : lastSeen, server: server
        )
    }

    static func puts(_ changes: [InstanceRegistry.Change]) -> [String: InstanceRegistry.Record] {
        var puts: [String: InstanceRegistry.Record] = [:]
        for case .put(let record) in changes { puts[record.key.instanceID] = record }
        return puts
    }

    @Test func aSingleServerTracksAndStampsNothing() throws {
        let registry = InstanceRegistry(now: { 5 })
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        registry.acked(Self.key("n1"), revision: Revision(3))
        #expect(registry.takeChanges().isEmpty)
        #expect(registry.record(Self.key("n1"))?.server == "")
        #expect(ComponentService.wire(registry.record(Self.key("n1"))!).server == "")
    }

    @Test func ownChangesAreCoalescedUntilTaken() throws {
        let clock = Mutex<Int64>(0)
        let registry = InstanceRegistry(now: { clock.withLock { $0 } }, server: "a")
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        try registry.subscribed(Self.ref("n2"), identity: Self.kubelet)
        for revision in 1...10 {
            clock.withLock { $0 = Int64(revision) }
            registry.pushed(Self.key("n1"), revision: Revision(UInt64(revision)))
            registry.acked(Self.key("n1"), revision: Revision(UInt64(revision)))
        }
        let changes = registry.takeChanges()
        #expect(changes.count == 2, "ten acks and pushes of one instance are one write")
        let n1 = try #require(Self.puts(changes)["n1"])
        #expect(n1.server == "a")
        #expect(n1.appliedRevision == Revision(10))
        #expect(n1.pushedRevision == Revision(10))
        #expect(registry.takeChanges().isEmpty, "taken once")
        registry.nacked(Self.key("n2"), .init(revision: Revision(10), reason: "BAD", message: "no", entries: [], timeUnixMilliseconds: 0))
        #expect(Self.puts(registry.takeChanges()).keys.sorted() == ["n2"])
        registry.markChanged([Self.key("n2")])
        #expect(Self.puts(registry.takeChanges()).keys.sorted() == ["n2"], "a failed write is taken again")
        registry.markAllChanged()
        #expect(Self.puts(registry.takeChanges()).keys.sorted() == ["n1", "n2"], "a new lease puts everything again")
    }

    @Test func otherServersInstancesJoinEveryView() throws {
        let registry = InstanceRegistry(now: { 100 }, server: "a")
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        #expect(registry.liveReplicas().all.count == 1)
        registry.learned(Self.foreign("n2", server: "b", connected: true, lastSeen: 90, labels: ["zone": "z2"]))
        registry.learned(Self.foreign("n3", server: "c", connected: false, lastSeen: 80))

        #expect(registry.list().map(\.server) == ["a", "b", "c"])
        #expect(registry.list(connectedOnly: true).map(\.key.instanceID) == ["n1", "n2"])
        #expect(Set(registry.liveReplicas().all.map(\.instanceID)) == ["n1", "n2"], "the skew guard counts replicas on every server")
        #expect(registry.registered(component: Self.kubelet, instanceID: "n2")?.labels == ["zone": "z2"], "Explain knows another server's instance")
        #expect(registry.record(Self.key("n3"))?.server == "c")
        #expect(registry.count(component: Self.kubelet) == 1, "the capacity bounds this server's own instances")
        #expect(Self.puts(registry.takeChanges()).keys.sorted() == ["n1"], "only own records are written")

        // Its server's lease expired: gone from every view.
        registry.forgot(Self.key("n2"))
        #expect(registry.list().map(\.key.instanceID) == ["n1", "n3"])
        #expect(registry.liveReplicas().all.map(\.instanceID) == ["n1"])
        #expect(registry.takeChanges().isEmpty, "forgetting another server's instance writes nothing")
    }

    /// An instance that reconnected elsewhere: one record stands for it, and only that one is written.
    @Test func anInstanceThatMovedIsShownOnceByItsNewestRecord() throws {
        let clock = Mutex<Int64>(1_000)
        let registry = InstanceRegistry(now: { clock.withLock { $0 } }, server: "a")
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        _ = registry.takeChanges()
        // n1 dropped from a, and reconnected to b.
        clock.withLock { $0 = 2_000 }
        registry.unsubscribed(Self.key("n1"))
        registry.learned(Self.foreign("n1", server: "b", connected: true, lastSeen: 1_500))
        #expect(registry.list().map(\.server) == ["b"], "connected on b beats disconnected on a, however recent")
        #expect(registry.liveReplicas().all.map(\.instanceID) == ["n1"])
        #expect(registry.takeChanges().isEmpty, "a's older word is not written over b's")

        // b's record says disconnected later than a's: a's stands again, but nobody is connected.
        registry.learned(Self.foreign("n1", server: "b", connected: false, lastSeen: 2_500))
        #expect(registry.list().map(\.server) == ["b"], "both disconnected: the one heard from last")
        #expect(registry.liveReplicas().isEmpty)

        // It comes back to a: a's connected record supersedes and is written over b's.
        clock.withLock { $0 = 3_000 }
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        #expect(registry.list().map(\.server) == ["a"])
        #expect(Self.puts(registry.takeChanges())["n1"]?.connected == true)

        // b, late, writes its disconnected record over a's key: a writes its own back.
        registry.learned(Self.foreign("n1", server: "b", connected: false, lastSeen: 3_100))
        #expect(registry.list().map(\.server) == ["a"])
        #expect(Self.puts(registry.takeChanges())["n1"]?.server == "a", "the superseding record is re-asserted")

        // Seeing its own write on the watch makes the key a's again.
        registry.learned(try #require(registry.record(Self.key("n1"))))
        registry.unsubscribed(Self.key("n1"))
        #expect(registry.list().map(\.server) == ["a"])
    }

    @Test func theRecordThatStandsIsTheSameOnEveryServer() {
        let onA = Self.foreign("n1", server: "a", connected: true, lastSeen: 10)
        let onB = Self.foreign("n1", server: "b", connected: true, lastSeen: 10)
        #expect(onA.supersedes(onB) && !onB.supersedes(onA), "a tie goes to the smaller server id")
        let later = Self.foreign("n1", server: "b", connected: true, lastSeen: 11)
        #expect(later.supersedes(onA) && !onA.supersedes(later))
        let gone = Self.foreign("n1", server: "a", connected: false, lastSeen: 99)
        #expect(onB.supersedes(gone) && !gone.supersedes(onB))
    }

    @Test func aKeyDeletedInEtcdIsPutAgainByItsOwner() throws {
        let registry = InstanceRegistry(now: { 1 }, server: "a")
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        _ = registry.takeChanges()
        // a's own key deleted (its lease expired while etcd was unreachable).
        registry.forgot(Self.key("n1"))
        #expect(Self.puts(registry.takeChanges()).keys.sorted() == ["n1"])
    }

    @Test func aFreshReadReplacesOtherServersAndRestoresOwnKeys() throws {
        let registry = InstanceRegistry(now: { 1 }, server: "a")
        try registry.subscribed(Self.ref("n1"), identity: Self.kubelet)
        try registry.subscribed(Self.ref("n2"), identity: Self.kubelet)
        registry.learned(Self.foreign("old", server: "b", connected: true, lastSeen: 1))
        _ = registry.takeChanges()
        let n1 = try #require(registry.record(Self.key("n1")))
        registry.replaceForeign(with: [n1, Self.foreign("n9", server: "c", connected: true, lastSeen: 1)])
        #expect(registry.list().map(\.key.instanceID) == ["n1", "n2", "n9"], "b's instance is gone, c's is in")
        #expect(Set(registry.liveReplicas().all.map(\.instanceID)) == ["n1", "n2", "n9"])
        #expect(Self.puts(registry.takeChanges()).keys.sorted() == ["n2"], "etcd lacked n2: put again; n1 was there")
    }

    @Test func aForgottenOwnInstanceIsDeleted() throws {
        let clock = Mutex<Int64>(0)
        let registry = InstanceRegistry(now: { clock.withLock { $0 } }, capacity: .init(maxPerComponent: 1, evictAfterMilliseconds: 10), server: "a")
        try registry.register(Self.ref("old"), labels: [:], identity: Self.kubelet)
        _ = registry.takeChanges()
        clock.withLock { $0 = 100 }
        try registry.register(Self.ref("new"), labels: [:], identity: Self.kubelet)
        let changes = registry.takeChanges()
        #expect(changes.count == 2)
        #expect(changes.contains { if case .delete(let key) = $0 { key == Self.key("old") } else { false } })
        #expect(Self.puts(changes).keys.sorted() == ["new"])
    }
}

/// The directory's encoding of an instance: the wire `ComponentInstance` with its server.
@Suite struct SharedInstancesCodecTests {
    @Test func aRecordRoundTripsWithItsServer() throws {
        let registry = InstanceRegistry(now: { 1_000 }, server: "gh-a:7443")
        let key = InstanceRegistry.Key(component: "kubelet", instanceID: "node-1")
        try registry.register(InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 31, 2)), labels: ["zone": "z"], identity: "kubelet")
        try registry.subscribed(InstanceRef(component: "kubelet", instanceID: "node-1", version: nil), identity: "kubelet")
        registry.acked(key, revision: Revision(4))
        registry.nacked(key, .init(revision: Revision(5), reason: "BAD_FLAG", message: "no", entries: ["F"], timeUnixMilliseconds: 0))
        registry.reportedHealth(key, .init(healthy: false, message: "sick", entries: ["F"], checkedAtUnixMilliseconds: 900))
        let record = try #require(registry.record(key))

        let decoded = try SharedInstancesCodec.decode(key: "kubelet/node-1", SharedInstancesCodec.encode(record))
        #expect(decoded.key == key)
        #expect(decoded.server == "gh-a:7443")
        #expect(decoded.parsedVersion == Version(1, 31, 2))
        #expect(decoded.labels == ["zone": "z"])
        #expect(decoded.connected)
        #expect(decoded.appliedRevision == Revision(4))
        #expect(decoded.nacks.first?.reason == "BAD_FLAG")
        #expect(decoded.failing, "NACKed r5 after applying r4")
        #expect(decoded.health?.healthy == false)
        #expect(decoded.disconnectedAtUnixMilliseconds == nil)
        #expect(ComponentService.wire(decoded) == ComponentService.wire(record))
    }

    @Test func aDisconnectedInstanceIsDisconnectedSinceItWasLastSeen() throws {
        var wire = Gatehouse_V1_ComponentInstance.with {
            $0.component = "kubelet"
            $0.instanceID = "n1"
            $0.server = "b"
            $0.lastSeenUnixMs = 777
            $0.appliedRevision = 6
            $0.nacks = [.with { $0.revision = 5 }]
        }
        var decoded = try SharedInstancesCodec.decode(key: "kubelet/n1", try wire.serializedBytes())
        #expect(!decoded.connected)
        #expect(decoded.disconnectedAtUnixMilliseconds == 777)
        #expect(!decoded.failing, "r6 applied after the NACK of r5")
        wire.connected = true
        decoded = try SharedInstancesCodec.decode(key: "kubelet/n1", try wire.serializedBytes())
        #expect(decoded.disconnectedAtUnixMilliseconds == nil)
    }

    @Test func entriesThatDoNotMatchTheirKeyAreRefused() throws {
        let wire = Gatehouse_V1_ComponentInstance.with {
            $0.component = "kubelet"
            $0.instanceID = "n1"
            $0.server = "b"
        }
        #expect(throws: SharedInstancesCodec.Unreadable.self) { try SharedInstancesCodec.decode(key: "kubelet/n2", try wire.serializedBytes()) }
        var serverless = wire
        serverless.server = ""
        #expect(throws: SharedInstancesCodec.Unreadable.self) { try SharedInstancesCodec.decode(key: "kubelet/n1", try serverless.serializedBytes()) }
        #expect(throws: SharedInstancesCodec.Unreadable.self) { try SharedInstancesCodec.decode(key: "kubelet/n1", [0xff, 0xff, 0xff]) }
    }
}

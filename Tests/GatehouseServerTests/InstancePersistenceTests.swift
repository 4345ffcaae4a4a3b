import Foundation
import GatehouseCore
import GatehouseStore
import Logging
import Synchronization
import Testing

@testable import GatehouseServer

/// A single server's instance list kept in its SQLite store across a restart:
/// taken back disconnected, never counted by the skew guard, forgotten after the
/// retention, and never a gate revision.
@Suite struct InstancePersistenceTests {
    /// The registry's clock, set by the test.
    final class Clock: Sendable {
        private let value: Mutex<Int64>
        init(_ value: Int64) { self.value = Mutex(value) }
        var now: Int64 { self.value.withLock { $0 } }
        func set(_ value: Int64) { self.value.withLock { $0 = value } }
    }

    static func persistence(
        _ store: SQLiteGateStore<GateState>,
        clock: Clock,
        retention: Int64 = 10_000
    ) -> (InstanceRegistry, InstancePersistence) {
        let registry = InstanceRegistry(now: { clock.now }, persisted: true)
        let persistence = InstancePersistence(
            registry: registry,
            retentionMilliseconds: retention,
            logger: Logger(label: "test.instances"),
            load: { try await store.loadInstances() },
            write: { try await store.writeInstances($0) }
        )
        return (registry, persistence)
    }

    @Test func instancesSurviveAReopenDisconnectedAndOutsideTheGateRevision() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/gatehouse.db"
        let clock = Clock(1_000)
        let node1 = InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 30, 0))
        let node2 = InstanceRef(component: "kubelet", instanceID: "node-2", version: Version(1, 31, 0))

        do {
            let store = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
            let (registry, persistence) = Self.persistence(store, clock: clock)
            try registry.register(node1, labels: ["zone": "a"], identity: "kubelet")
            try registry.subscribed(node1, identity: "kubelet")
            registry.acked(.init(component: "kubelet", instanceID: "node-1"), revision: Revision(4))
            try registry.subscribed(node2, identity: "kubelet")
            #expect(await persistence.flush() == 2)
            #expect(await persistence.flush() == 0, "nothing changed since")
            clock.set(2_000)
            registry.unsubscribed(.init(component: "kubelet", instanceID: "node-2"))
            #expect(await persistence.flush() == 1)
            #expect(store.snapshot.revision == .zero, "keeping instances commits no gate revision")
            await store.close()
            // node-1 was still connected when last written: a crash, as far as its record knows.
        }

        let store = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
        clock.set(5_000)
        let (registry, persistence) = Self.persistence(store, clock: clock)
        await persistence.restore()
        let records = registry.list()
        #expect(records.map(\.key.instanceID) == ["node-1", "node-2"])
        #expect(records.allSatisfy { !$0.connected }, "nothing is connected to a server that just started")
        #expect(records[0].labels == ["zone": "a"] && records[0].version == "1.30.0" && records[0].appliedRevision == Revision(4))
        #expect(records[0].disconnectedAtUnixMilliseconds == 1_000, "disconnected since it was last seen")
        #expect(records[1].disconnectedAtUnixMilliseconds == 2_000)
        #expect(registry.liveReplicas().isEmpty, "the skew guard counts only connected instances, kept ones are not")
        #expect(registry.count(component: "kubelet") == 2, "kept instances count toward the component's capacity")

        // One reconnects: live again, and the old record's labels stay.
        try registry.subscribed(node1, identity: "kubelet")
        #expect(registry.record(.init(component: "kubelet", instanceID: "node-1"))?.connected == true)
        #expect(Set(registry.liveReplicas().all) == [node1])

        // Past the retention the other is forgotten, in memory and in the store.
        clock.set(2_000 + 10_001)
        #expect(registry.forget(disconnectedLongerThan: persistence.retentionMilliseconds).map(\.instanceID) == ["node-2"])
        #expect(await persistence.flush() == 2, "node-1's reconnect and node-2's deletion")
        #expect(try await store.loadInstances().map(\.instanceID) == ["node-1"])
        await store.close()
    }

    @Test func manyChangesAreWrittenInShortTransactionsAndAllKept() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteGateStore<GateState>(path: "\(directory)/gatehouse.db") { try GateRecords.state(from: $0) }
        let many = (0..<(2 * InstanceTable.changesPerTransaction + 88)).map { index in
            StoredInstance.Change.put(StoredInstance(component: "kubelet", instanceID: "node-\(index)", value: [UInt8(index % 256)], lastSeenUnixMilliseconds: Int64(index)))
        }
        try await store.writeInstances(many)
        let kept = try await store.loadInstances()
        #expect(kept.count == many.count)
        #expect(kept.first { $0.instanceID == "node-599" }?.lastSeenUnixMilliseconds == 599)
        try await store.writeInstances([.delete(component: "kubelet", instanceID: "node-0")])
        #expect(try await store.loadInstances().count == many.count - 1)
        #expect(store.snapshot.revision == .zero)
        await store.close()
    }

    @Test func restoreForgetsWhatIsPastTheRetentionAndKeepsALiveRecord() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/gatehouse.db"
        let clock = Clock(1_000)
        let store = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
        do {
            let (registry, persistence) = Self.persistence(store, clock: clock)
            try registry.register(InstanceRef(component: "kubelet", instanceID: "old", version: nil), labels: [:], identity: "kubelet")
            clock.set(9_000)
            try registry.register(InstanceRef(component: "kubelet", instanceID: "recent", version: nil), labels: [:], identity: "kubelet")
            try registry.register(InstanceRef(component: "kubelet", instanceID: "back", version: nil), labels: ["kept": "yes"], identity: "kubelet")
            #expect(await persistence.flush() == 3)
        }
        clock.set(12_000)
        let (registry, persistence) = Self.persistence(store, clock: clock)
        // `back` reconnected before the kept list was read: its live record stands.
        try registry.subscribed(InstanceRef(component: "kubelet", instanceID: "back", version: Version(1, 31, 0)), identity: "kubelet")
        await persistence.restore()
        #expect(registry.list().map(\.key.instanceID) == ["back", "recent"], "`old` was last seen 11 s ago, past the 10 s retention")
        #expect(registry.record(.init(component: "kubelet", instanceID: "back"))?.connected == true)
        #expect(try await store.loadInstances().map(\.instanceID) == ["back", "recent"], "restore wrote the forgetting and the live record")
        await store.close()
    }
}

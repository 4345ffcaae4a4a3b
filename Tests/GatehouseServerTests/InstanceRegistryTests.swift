import GatehouseCore
import Testing

@testable import GatehouseServer

/// The registry's live replicas: what the skew guard sees, kept current as replicas come and go.
@Suite struct InstanceRegistryTests {
    @Test func liveReplicasFollowConnectionsAndVersions() {
        let registry = InstanceRegistry(now: { 0 })
        let node1 = InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 31, 2))
        let node2 = InstanceRef(component: "kubelet", instanceID: "node-2", version: Version(1, 30, 0))
        #expect(registry.liveReplicas().isEmpty)

        registry.register(node1, labels: [:], identity: "kubelet", features: [], apis: [])
        #expect(registry.liveReplicas().isEmpty, "registered is not live: the open subscription is")
        registry.subscribed(node1, identity: "kubelet")
        registry.subscribed(node2, identity: "kubelet")
        #expect(Set(registry.liveReplicas().all) == [node1, node2])

        // Acks and pushes leave the replicas as they are.
        registry.acked(.init(component: "kubelet", instanceID: "node-1"), revision: Revision(3))
        registry.pushed(.init(component: "kubelet", instanceID: "node-2"), revision: Revision(3))
        #expect(Set(registry.liveReplicas().all) == [node1, node2])

        // An upgrade is seen at once.
        let upgraded = InstanceRef(component: "kubelet", instanceID: "node-2", version: Version(1, 31, 0))
        registry.register(upgraded, labels: [:], identity: "kubelet", features: [], apis: [])
        #expect(registry.liveReplicas().instance(component: "kubelet", id: "node-2")?.version == Version(1, 31, 0))

        registry.unsubscribed(.init(component: "kubelet", instanceID: "node-1"))
        #expect(registry.liveReplicas().all == [upgraded])
    }
}

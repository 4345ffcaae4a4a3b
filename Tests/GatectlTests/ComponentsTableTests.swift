import GatehouseClient
import Testing
@testable import gatectl

/// `gatectl components`: the HEALTH column shows each instance's latest health report.
@Suite("Components table")
struct ComponentsTableTests {
    static func instance(_ id: String, health: Gatehouse_V1_HealthReport?) -> Gatehouse_V1_ComponentInstance {
        .with {
            $0.component = "kubelet"
            $0.instanceID = id
            $0.version = "1.32.0"
            $0.connected = true
            $0.appliedRevision = 4
            $0.pushedRevision = 4
            if let health { $0.health = health }
        }
    }

    @Test("no report, healthy, and unhealthy with what it blames and why")
    func health() {
        #expect(Components.health(Self.instance("a", health: nil)) == "-")
        #expect(Components.health(Self.instance("b", health: .with { $0.healthy = true; $0.message = "fine" })) == "healthy")
        let sick = Self.instance("c", health: .with {
            $0.healthy = false
            $0.message = "5xx up"
            $0.entries = ["InPlacePodVerticalScaling", "batch/v1beta1"]
        })
        #expect(Components.health(sick) == "unhealthy (InPlacePodVerticalScaling,batch/v1beta1): 5xx up")
        #expect(Components.health(Self.instance("d", health: .with { $0.healthy = false })) == "unhealthy")
        let table = Components.table(.with { $0.instances = [sick] })
        #expect(table.hasPrefix("COMPONENT  INSTANCE  VERSION  CONNECTED  PUSHED  APPLIED  NACK  HEALTH"))
        #expect(table.contains("r4       -     unhealthy (InPlacePodVerticalScaling,batch/v1beta1): 5xx up"))
    }

    @Test("a SERVER column only when some instance names its server (several servers over etcd)")
    func serverColumn() {
        var onA = Self.instance("a", health: nil)
        onA.server = "gh-a:7443"
        let unknown = Self.instance("b", health: nil)
        let shared = Components.table(.with { $0.instances = [onA, unknown] })
        #expect(shared.hasPrefix("COMPONENT  INSTANCE  VERSION  CONNECTED  SERVER     PUSHED"))
        let lines = shared.split(separator: "\n")
        #expect(lines[1].contains("yes        gh-a:7443  r4"))
        #expect(lines[2].contains("yes        -          r4"))
        let single = Components.table(.with { $0.instances = [unknown] })
        #expect(!single.contains("SERVER"), "a single server on SQLite shows no SERVER column")
    }
}

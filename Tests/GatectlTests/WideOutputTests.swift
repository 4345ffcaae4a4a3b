import GatehouseClient
import Testing

@testable import gatectl

/// `-o wide`: the table with more columns, where a command has them; `-o table` as before.
@Suite("Wide output")
struct WideOutputTests {
    static func header(_ table: String) -> [String] {
        (table.split(separator: "\n").first ?? "").split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    }

    @Test("components: SERVER always, LAST SEEN, REGISTERED, IDENTITY, NACKS")
    func components() {
        let response = Gatehouse_V1_ListComponentsResponse.with {
            $0.revision = 7
            $0.instances = [.with {
                $0.component = "kubelet"
                $0.instanceID = "node-1"
                $0.version = "1.32.0"
                $0.connected = true
                $0.lastSeenUnixMs = 1_700_000_000_000
                $0.registeredAtUnixMs = 1_699_999_000_000
                $0.identity = "kubelet"
                $0.nacks = [.with { $0.revision = 5; $0.error = .with { $0.reason = "BAD"; $0.message = "no" } }]
            }]
        }
        let plain = Components.table(response)
        #expect(!plain.contains("SERVER") && !plain.contains("IDENTITY"), "the plain table is as it was")
        let wide = Components.table(response, wide: true)
        #expect(wide.hasPrefix("COMPONENT  INSTANCE  VERSION  CONNECTED  SERVER  PUSHED  APPLIED"))
        #expect(wide.contains("LAST SEEN") && wide.contains("REGISTERED") && wide.contains("IDENTITY") && wide.contains("NACKS"))
        let row = wide.split(separator: "\n")[1]
        #expect(row.contains("2023-11-14T22:13:20Z") && row.contains("2023-11-14T21:56:40Z") && row.split(separator: " ").suffix(2) == ["kubelet", "1"])
    }

    @Test("status: INSTANCES, TARGET and MIN APPLIED")
    func status() throws {
        let response = Gatehouse_V1_ConvergenceResponse.with {
            $0.revision = 9
            $0.components = [.with {
                $0.component = "kubelet"
                $0.instances = 3
                $0.connected = 2
                $0.converged = 1
                $0.targetRevision = 9
                $0.minAppliedRevision = 6
                $0.laggingInstanceIds = ["node-2"]
            }]
        }
        let status = try Status.parse([])
        #expect(Self.header(status.table(response)) == ["COMPONENT", "CONVERGED", "NACKED", "DISCONNECTED", "LAGGING"])
        let wide = status.table(response, wide: true)
        #expect(wide.hasSuffix("node-2   3          r9      r6\n"), "\(wide)")
        #expect(wide.contains("INSTANCES  TARGET  MIN APPLIED"))
    }

    @Test("features list: DEPENDS ON, PARAMETERS, MIN VERSIONS, REVISION")
    func features() {
        let response = Gatehouse_V1_ListFeaturesResponse.with {
            $0.revision = 4
            $0.features = [.with {
                $0.name = "SidecarContainers"
                $0.stage = .beta
                $0.defaultEnabled = true
                $0.dependencies = ["PodReadyToStartContainersCondition"]
                $0.parameters = [.with { $0.name = "max_sidecars" }]
                $0.minComponentVersions = ["kubelet": "1.29.0", "kube-apiserver": "1.29.0"]
                $0.revision = 3
            }]
        }
        #expect(!FeaturesList.table(response).contains("DEPENDS ON"))
        let wide = FeaturesList.table(response, wide: true)
        #expect(wide.contains("DEPENDS ON") && wide.contains("MIN VERSIONS"))
        #expect(wide.contains("PodReadyToStartContainersCondition  max_sidecars  kube-apiserver>=1.29.0,kubelet>=1.29.0  r3"), "\(wide)")
    }

    @Test("-o wide parses, and is a table")
    func parses() throws {
        let options = try GlobalOptions.parse(["-o", "wide"])
        #expect(options.output == .wide && options.output.isTable)
    }
}

import Foundation
import GatehouseClient
import GatehouseRPC
import Testing

/// GatehouseClient's typed Rollouts calls against a live server: List follows every page,
/// and Get, Pause, Resume and Abort say where each rollout stands.
@Suite(.serialized) struct RolloutClientLiveTests {
    static func spec(_ name: String, feature: String, component: String) -> Gatehouse_V1_RolloutSpec {
        .with {
            $0.name = name
            $0.target = .with { $0.feature = feature }
            $0.enabled = true
            $0.component = component
            $0.steps = [.with { $0.percent = 10; $0.bakeMs = 3_600_000 }, .with { $0.percent = 100; $0.bakeMs = 3_600_000 }]
        }
    }

    @Test func listFollowsPagesAndActionsMoveARolloutThroughItsPhases() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let client = fixture.admin

        let planned = [
            ("a-kubelet", "Everywhere", "kubelet"),
            ("b-scheduler", "Everywhere", "kube-scheduler"),
            ("c-proxy", "Everywhere", "kube-proxy"),
            ("d-kubelet-only", "KubeletOnly", "kubelet"),
        ]
        for (name, feature, component) in planned {
            let started = try await client.startRollout(.with {
                $0.spec = Self.spec(name, feature: feature, component: component)
                $0.reason = "client test"
            })
            #expect(started.rollout.spec.name == name)
            #expect(started.rollout.phase == .running)
        }

        // One rollout per page: the client asks until the last page and merges them.
        let all = try await client.listRollouts(.with { $0.pageSize = 1 })
        #expect(Set(all.rollouts.map(\.spec.name)) == Set(planned.map(\.0)))
        #expect(all.rollouts.count == planned.count, "no page repeated or skipped")
        #expect(all.nextPageToken.isEmpty)
        let kubelet = try await client.listRollouts(.with { $0.component = "kubelet"; $0.pageSize = 1 })
        #expect(Set(kubelet.rollouts.map(\.spec.name)) == ["a-kubelet", "d-kubelet-only"])

        let paused = try await client.steerRollout(.pause, named: "b-scheduler", reason: "look")
        #expect(paused.rollout.phase == .paused)
        #expect(paused.rollout.message == "look")
        #expect(try await client.getRollout(named: "b-scheduler").rollout.phase == .paused)
        let resumed = try await client.steerRollout(.resume, named: "b-scheduler", reason: "fine")
        #expect(resumed.rollout.phase == .running)
        #expect(resumed.revision > paused.revision)

        let aborted = try await client.steerRollout(.abort, named: "c-proxy", reason: "stop")
        #expect(aborted.rollout.phase == .aborted)
        let active = try await client.listRollouts(.with { $0.activeOnly = true; $0.pageSize = 1 })
        #expect(Set(active.rollouts.map(\.spec.name)) == ["a-kubelet", "b-scheduler", "d-kubelet-only"])

        let again = await #expect(throws: RPCError.self) { try await client.steerRollout(.resume, named: "c-proxy", reason: "again") }
        #expect(again?.code == .failedPrecondition)
        let missing = await #expect(throws: RPCError.self) { try await client.getRollout(named: "nope") }
        #expect(missing?.code == .notFound)

        await client.close()
        try await running.stop()
    }
}

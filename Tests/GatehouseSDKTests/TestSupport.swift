import Foundation
import GatehouseProto
import Synchronization
@testable import GatehouseSDK

/// A deterministic generator (SplitMix64), so jitter tests are repeatable.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A clock moved by hand: sleepers wake when `advance` passes their deadline.
final class ManualClock: ComponentClock {
    private struct Sleeper {
        var id: Int
        var deadline: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Duration = .zero
        var nextID = 0
        var sleepers: [Sleeper] = []
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    func now() -> Duration {
        self.state.withLock { $0.now }
    }

    func sleep(until deadline: Duration) async throws {
        let id = self.state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Action { case wait, wake, cancel }
                let action = self.state.withLock { state -> Action in
                    if state.cancelled.remove(id) != nil { return .cancel }
                    if deadline <= state.now { return .wake }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return .wait
                }
                switch action {
                case .wait: break
                case .wake: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = self.state.withLock { state -> Sleeper? in
                if let index = state.sleepers.firstIndex(where: { $0.id == id }) {
                    return state.sleepers.remove(at: index)
                }
                state.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due = self.state.withLock { state -> [Sleeper] in
            state.now += duration
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due {
            sleeper.continuation.resume()
        }
    }
}

/// Polls `condition` for up to `timeout` of real time.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

func wireFeature(_ name: String, _ enabled: Bool, _ stage: Gatehouse_V1_Stage, params: [String: Gatehouse_V1_ParameterValue] = [:]) -> Gatehouse_V1_EffectiveFeature {
    .with {
        $0.name = name
        $0.enabled = enabled
        $0.stage = stage
        $0.params = params
    }
}

func wireAPI(_ group: String, _ version: String, _ resource: String = "", _ enabled: Bool, _ stage: Gatehouse_V1_Stage) -> Gatehouse_V1_EffectiveApi {
    .with {
        $0.api = .with {
            $0.group = group
            $0.version = version
            $0.resource = resource
        }
        $0.enabled = enabled
        $0.stage = stage
    }
}

/// A server snapshot at `revision` with one alpha, one beta, one GA feature and three APIs.
func sampleSnapshot(revision: UInt64 = 10) -> Gatehouse_V1_Snapshot {
    .with {
        $0.revision = revision
        $0.features = [
            wireFeature("AlphaThing", true, .alpha, params: ["mode": .with { $0.enumValue = "fast" }]),
            wireFeature("BetaThing", true, .beta),
            wireFeature("GAThing", true, .ga),
        ]
        $0.apis = [
            wireAPI("batch", "v1beta1", "", true, .beta),
            wireAPI("example.io", "v1alpha1", "", true, .alpha),
            wireAPI("apps", "v1", "deployments", false, .ga),
            wireAPI("apps", "v1", "", true, .ga),
        ]
    }
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "gatehouse-sdk-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

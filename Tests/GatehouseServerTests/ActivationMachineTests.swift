import Testing

@testable import GatehouseServer

/// The two-phase activation's decisions, driven by hand: time is a number passed in.
@Suite struct ActivationMachineTests {
    typealias Machine = ActivationMachine

    static func machine(_ replicas: [String] = ["a", "b", "c"], deadline: Int64 = 1_000) -> Machine {
        Machine(id: "p1", replicas: replicas, deadline: deadline)
    }

    @Test func commitsOnlyWhenEveryReplicaIsReady() {
        var machine = Self.machine()
        #expect(machine.start(at: 0) == nil)
        #expect(machine.acked("b", ready: true, message: "", at: 10) == nil)
        #expect(machine.acked("a", ready: true, message: "", at: 20) == nil)
        #expect(machine.acked("a", ready: true, message: "", at: 30) == nil, "a second ack from a counts once")
        #expect(machine.acked("c", ready: true, message: "", at: 999) == .commit(prepared: ["a", "b", "c"]))
        #expect(machine.decision == .commit(prepared: ["a", "b", "c"]))
    }

    @Test func noReplicaCommitsAtOnceWithNobodyPrepared() {
        var machine = Self.machine([])
        #expect(machine.start(at: 0) == .commit(prepared: []))
    }

    @Test func theFirstRefusalAbortsNamingTheReplicaAndItsMessage() {
        var machine = Self.machine()
        #expect(machine.acked("a", ready: true, message: "", at: 1) == nil)
        let decision = machine.acked("b", ready: false, message: "storage for batch/v1beta1 not migrated", at: 2)
        #expect(decision == .abort(.init(cause: .refused, replicas: [.init(instanceID: "b", message: "storage for batch/v1beta1 not migrated")])))
        // Decided once: a later ready cannot turn the abort into a commit.
        #expect(machine.acked("c", ready: true, message: "", at: 3) == nil)
        #expect(machine.tick(at: 5_000) == nil)
        #expect(machine.decision == decision)
    }

    @Test func aRefusalWithoutAMessageStillSaysSomething() {
        var machine = Self.machine(["a"])
        guard case .abort(let abort) = machine.acked("a", ready: false, message: "", at: 1) else {
            Issue.record("expected an abort")
            return
        }
        #expect(abort.replicas.first?.message.isEmpty == false)
    }

    @Test func aReplicaLeavingBeforeItAnsweredAborts() {
        var machine = Self.machine()
        #expect(machine.acked("a", ready: true, message: "", at: 1) == nil)
        #expect(machine.disconnected("a", at: 2) == nil, "it answered ready already: it converges from the commit")
        guard case .abort(let abort) = machine.disconnected("c", at: 3) else {
            Issue.record("expected an abort")
            return
        }
        #expect(abort.cause == .refused)
        #expect(abort.replicas.map(\.instanceID) == ["c"])
    }

    @Test func theDeadlineAbortsNamingTheSilentReplicas() {
        var machine = Self.machine(deadline: 1_000)
        #expect(machine.acked("b", ready: true, message: "", at: 100) == nil)
        #expect(machine.tick(at: 999) == nil)
        let decision = machine.tick(at: 1_000)
        #expect(
            decision == .abort(.init(cause: .timedOut, replicas: [
                .init(instanceID: "a", message: "no answer by the deadline"), .init(instanceID: "c", message: "no answer by the deadline"),
            ]))
        )
    }

    @Test func anAckAfterTheDeadlineIsTooLate() {
        var machine = Self.machine(["a"], deadline: 1_000)
        guard case .abort(let abort) = machine.acked("a", ready: true, message: "", at: 1_000) else {
            Issue.record("a ready past the deadline must not commit")
            return
        }
        #expect(abort.cause == .timedOut)
    }

    @Test func aReplicaNotAskedIsIgnored() {
        var machine = Self.machine(["a"])
        #expect(machine.acked("zz", ready: false, message: "who?", at: 1) == nil)
        #expect(machine.disconnected("zz", at: 2) == nil)
        #expect(machine.acked("a", ready: true, message: "", at: 3) == .commit(prepared: ["a"]))
    }

    @Test func cancellingAborts() {
        var machine = Self.machine()
        #expect(machine.cancelled() == .abort(.init(cause: .cancelled, replicas: [])))
        #expect(machine.acked("a", ready: true, message: "", at: 1) == nil)
        #expect(machine.cancelled() == nil)
    }
}

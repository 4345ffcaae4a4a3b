import ArgumentParser
import GatehouseClient
import GatehouseCore
import Testing
@testable import gatectl

/// The write commands' arguments and answers, without a server.
@Suite("Write commands")
struct WriteCommandsTests {
    @Test func unsetSendsOneRemovalAtTheScope() throws {
        let feature = try Unset.parse(["InPlacePodVerticalScaling", "--component", "kubelet", "--instance", "node-17", "--reason", "undo"])
        #expect(try feature.change() == .clearFeature("InPlacePodVerticalScaling", scope: .instance(component: "kubelet", id: "node-17")))
        let api = try Unset.parse(["--api", "api/alpha", "--global", "--reason", "undo"])
        #expect(try api.change() == .clearAPI(.stage(.alpha), scope: .global))
        #expect(try api.change().wire?.remove == true)
    }

    @Test(arguments: [
        ["InPlacePodVerticalScaling", "--component", "kubelet"],  // no reason
        ["InPlacePodVerticalScaling", "--component", "kubelet", "--reason", " "],
        ["--component", "kubelet", "--reason", "x"],  // nothing named
        ["InPlacePodVerticalScaling", "--api", "batch/v1", "--component", "kubelet", "--reason", "x"],
        ["InPlacePodVerticalScaling", "--reason", "x"],  // no scope
    ])
    func unsetUsageErrors(_ arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try Unset.parse(arguments) }
    }

    @Test func setNeedsAReasonAndForceAllowsUnknownComponents() throws {
        #expect(throws: (any Error).self) { _ = try SetFlags.parse(["kube-apiserver", "--feature-gates=A=true"]) }
        #expect(throws: (any Error).self) { _ = try SetFlags.parse(["kube-apiserver", "--feature-gates=A=true", "--reason", ""]) }
        let set = try SetFlags.parse(["kube-apiserver", "--feature-gates=A=true", "--reason", "why", "--force"])
        var request = try set.batch().wireSetRequest
        set.write.apply(to: &request, reason: set.reason)
        #expect(request.allowUnknownComponent)
        #expect(request.reason == "why")
    }

    @Test func anUnchangedAnswerSaysUnchanged() {
        let unchanged = Gatehouse_V1_SetResponse.with {
            $0.revision = 7
            $0.unchanged = true
            $0.applied = ["unchanged: set A=true at component kubelet"]
        }
        #expect(SetResult.text(unchanged, dryRun: false).hasPrefix("unchanged at revision 7: every change is already in effect, nothing committed\n"))
        let applied = Gatehouse_V1_SetResponse.with { $0.revision = 8; $0.applied = ["created feature_override A@component/kubelet"] }
        #expect(SetResult.text(applied, dryRun: false).hasPrefix("applied at revision 8\n"))
        #expect(SetResult.text(applied, dryRun: true).hasPrefix("dry run at revision 8: would apply"))
    }
}

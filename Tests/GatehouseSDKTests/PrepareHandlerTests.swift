import Foundation
import GatehouseProto
import Testing

@testable import GatehouseSDK

/// The SDK's answer to a two-phase activation's Prepare, without a server.
@Suite struct PrepareHandlerTests {
    static func prepare(deadlineIn milliseconds: Int64, from now: Date) -> Gatehouse_V1_Prepare {
        .with {
            $0.id = "p1"
            $0.deadlineUnixMs = Int64(now.timeIntervalSince1970 * 1000) + milliseconds
            $0.apis = [.with { $0.api = .with { $0.group = "batch"; $0.version = "v1beta1" }; $0.enabled = true }]
        }
    }

    @Test func withoutAHandlerTheAnswerIsNotReadyAndSaysWhy() async {
        let component = GatehouseComponent(configuration: ComponentTests.configuration())
        let now = Date()
        let ack = await component.answer(Self.prepare(deadlineIn: 5_000, from: now), now: now)
        #expect(ack.id == "p1" && !ack.ready)
        #expect(ack.error.message == "no prepare handler")
    }

    @Test func theHandlerSeesTheAPIsAndItsAnswerIsSent() async {
        let component = GatehouseComponent(configuration: ComponentTests.configuration())
        component.onPrepare { request in
            request.apis == [PreparedAPI(api: "batch/v1beta1", enabled: true)] ? .ready : .notReady("unexpected \(request.apis)")
        }
        let now = Date()
        let ack = await component.answer(Self.prepare(deadlineIn: 5_000, from: now), now: now)
        #expect(ack.ready, "\(ack.error.message)")

        struct StorageNotReady: Error, CustomStringConvertible { var description: String { "storage not migrated" } }
        component.onPrepare { _ in throw StorageNotReady() }
        let refused = await component.answer(Self.prepare(deadlineIn: 5_000, from: now), now: now)
        #expect(!refused.ready && refused.error.message == "storage not migrated")
    }

    @Test func aHandlerThatHangsIsCutOffBeforeTheDeadline() async {
        let component = GatehouseComponent(configuration: ComponentTests.configuration())
        component.onPrepare(timeout: .milliseconds(100)) { _ in
            // Ignores cancellation on purpose: the answer must not wait for it.
            try? await Task.sleep(for: .seconds(3600))
            return .ready
        }
        let now = Date()
        let started = ContinuousClock.now
        let ack = await component.answer(Self.prepare(deadlineIn: 60_000, from: now), now: now)
        #expect(!ack.ready && ack.error.reason == "PREPARE_HANDLER_TIMEOUT", "\(ack)")
        // The handler would hold the answer for an hour. Its 100 ms timer can wait
        // seconds for a thread while the whole suite runs on two cores (12.7 s seen),
        // so the bound is the Prepare's deadline, with room for the answer to travel.
        #expect(ContinuousClock.now - started < .seconds(50))
    }

    @Test func theBudgetStaysShortOfTheDeadline() {
        let now = Date(timeIntervalSince1970: 1_000)
        // 30 s left: a tenth would be 3 s, capped at 1 s of margin; the handler's own 20 s is shorter.
        #expect(GatehouseComponent.prepareBudget(until: now + 30, now: now, limit: .seconds(20)) == .seconds(20))
        #expect(GatehouseComponent.prepareBudget(until: now + 30, now: now, limit: .seconds(60)) == .seconds(29))
        // 1 s left: 100 ms margin.
        #expect(GatehouseComponent.prepareBudget(until: now + 1, now: now, limit: .seconds(60)) == .milliseconds(900))
        // Past the deadline: nothing.
        #expect(GatehouseComponent.prepareBudget(until: now - 1, now: now, limit: .seconds(60)) <= .zero)
    }
}

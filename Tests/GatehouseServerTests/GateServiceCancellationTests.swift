import Foundation
import GatehouseCore
import GatehouseRPC
import GatehouseStore
import Logging
import Testing

@testable import GatehouseServer

/// A change whose call was cancelled before the store reached it is not committed (rapid reset).
@Suite struct GateServiceCancellationTests {
    static func context(cancelled: Bool) -> RPCServerContext {
        let cancellation = RPCCallCancellation()
        if cancelled { cancellation.cancel() }
        return RPCServerContext(
            path: "/gatehouse.v1.Features/Set",
            metadata: Metadata(),
            deadline: nil,
            peer: nil,
            remoteAddress: nil,
            logger: Logger(label: "test"),
            cancellation: cancellation
        )
    }

    @Test func aCancelledSetIsNotCommitted() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteGateStore<GateState>(path: "\(directory)/gatehouse.db") { try GateRecords.state(from: $0) }
        try await GateRecordsTests.apply(.importing(GateRecordsTests.catalog, actor: "admin"), to: store)
        let gates = GateService(store: store, authorizer: Authorizer(policy: AccessPolicy(bindings: [])))
        let toggle = ChangeBatch(changes: [.setFeature("Base", scope: .global, enabled: false)], actor: "alice")

        await #expect(throws: RPCError.self) {
            _ = try await gates.commit(toggle, context: Self.context(cancelled: true))
        }
        #expect(store.snapshot.revision == Revision(1), "nothing was committed for the cancelled call")
        #expect(try await store.history(AuditQuery()).count == 1)

        let committed = try await gates.commit(toggle, context: Self.context(cancelled: false))
        #expect(committed.revision == Revision(2))
        await store.close()
    }
}

import GatehouseCore
import GatehouseWire

/// What `gatectl apply` will send: the manifest compared with the server's overrides as read at
/// one revision, and the one conditional Set that makes them equal.
public struct ManifestApplyPlan: Sendable {
    /// The server's overrides, and the revision they were read at.
    public var server: ServerManifest
    /// The differences, and the changes they take.
    public var diff: ManifestDiff
    /// The one batch: every change, conditioned on ``ServerManifest/revision``.
    public var request: Gatehouse_V1_SetRequest
}

extension GatehouseClient {
    /// Reads the server's overrides and compares `yaml` (a manifest) with them.
    ///
    /// - Parameters:
    ///   - file: how refusals name the manifest (`gates.yaml:5:3: …`).
    ///   - prune: also remove overrides the manifest does not list.
    /// - Throws: ``ManifestError`` for a manifest that cannot be read; the reads' `RPCError`s.
    public func planApply(
        yaml: String,
        file: String,
        prune: Bool,
        reason: String,
        dryRun: Bool = false,
        allowUnknownComponents: Bool = false
    ) async throws -> ManifestApplyPlan {
        let server = try await self.serverManifest()
        let desired = try GateManifest.parse(yaml: yaml, file: file, features: server.features)
        let diff = ManifestDiff(from: server.manifest, to: desired, prune: prune)
        var request = ChangeBatch(
            changes: diff.changes,
            expectedRevision: Revision(server.revision),
            reason: reason,
            actor: "",  // the server takes the actor from the client certificate
            allowsUnknownComponents: allowUnknownComponents
        ).wireSetRequest
        request.dryRun = dryRun
        return ManifestApplyPlan(server: server, diff: diff, request: request)
    }

    /// Sends a plan's one batch; sends nothing when there is no difference (the answer then says
    /// `unchanged` at the revision read).
    ///
    /// - Throws: ABORTED naming the re-run when the server's state moved after the plan read it
    ///   (nothing was applied); the server's other refusals as they come.
    public func apply(_ plan: ManifestApplyPlan) async throws -> Gatehouse_V1_SetResponse {
        guard !plan.diff.isEmpty else {
            return .with {
                $0.revision = plan.server.revision
                $0.unchanged = true
                $0.dryRun = plan.request.dryRun
            }
        }
        do {
            return try await self.connection.unary("/gatehouse.v1.Features/Set", plan.request, timeout: self.defaultTimeout)
        } catch let error as RPCError where error.code == .aborted {
            throw RPCError(
                .aborted,
                "the gate state changed after it was read at revision \(plan.server.revision), so nothing was applied; run apply again to compare the file with the new state (\(error.message))",
                details: error.status.details
            )
        }
    }
}

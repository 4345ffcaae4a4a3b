import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseStore
import Testing

@testable import GatehouseServer

/// The per-request bounds as pure checks, and the audit-entry arithmetic they rest on.
@Suite struct RequestLimitsTests {
    let limits = RequestLimits()

    func register(
        version: String = "1.31.0",
        labels: [String: String] = [:],
        features: [String] = [],
        apis: [(group: String, version: String, resource: String)] = [],
        instanceID: String = "node-1"
    ) throws(GateError) {
        try self.limits.checkRegistration(component: "kubelet", instanceID: instanceID, version: version, labels: labels, features: features, apis: apis)
    }

    func reason(of body: () throws(GateError) -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            #expect(error.code == .invalidArgument)
            return error.reason.rawValue
        }
    }

    @Test func aRegistrationNeedsAVersionThatParses() {
        #expect(self.reason { () throws(GateError) in try self.register(version: "") } == "MISSING_VERSION")
        #expect(self.reason { () throws(GateError) in try self.register(version: "latest") } == "INVALID_VERSION")
        #expect(self.reason { () throws(GateError) in try self.register(version: "1.31.0-" + String(repeating: "a", count: 60)) } == "TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.register(version: "v1.32.0-alpha.1+k3s1") } == nil)
    }

    @Test func labelsAreBoundedInCountAndSize() {
        let most = Dictionary(uniqueKeysWithValues: (0..<32).map { ("k\($0)" + String(repeating: "k", count: 60), String(repeating: "v", count: 255)) })
        #expect(most.keys.allSatisfy { $0.utf8.count <= 63 })
        #expect(self.reason { () throws(GateError) in try self.register(labels: most) } == nil)
        var tooMany = most
        tooMany["one-more"] = "x"
        #expect(self.reason { () throws(GateError) in try self.register(labels: tooMany) } == "TOO_MANY")
        #expect(self.reason { () throws(GateError) in try self.register(labels: [String(repeating: "k", count: 64): "v"]) } == "TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.register(labels: ["zone": String(repeating: "v", count: 256)]) } == "TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.register(labels: ["": "v"]) } == "INVALID_LABEL")
        #expect(self.reason { () throws(GateError) in try self.register(labels: ["zone": "a\nlevel=error forged"]) } == "INVALID_LABEL")
    }

    @Test func knownFeaturesAndAPIsAreBounded() {
        let most = (0..<1_000).map { "Feature\($0)" }
        #expect(self.reason { () throws(GateError) in try self.register(features: most) } == nil)
        #expect(self.reason { () throws(GateError) in try self.register(features: most + ["OneMore"]) } == "TOO_MANY")
        #expect(self.reason { () throws(GateError) in try self.register(features: [String(repeating: "F", count: 254)]) } == "TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.register(features: ["Bad\u{1B}[2J"]) } == "INVALID_NAME")
        let apis = (0..<501).map { (group: "g\($0).example.com", version: "v1", resource: "") }
        #expect(self.reason { () throws(GateError) in try self.register(apis: Array(apis.prefix(500))) } == nil)
        #expect(self.reason { () throws(GateError) in try self.register(apis: apis) } == "TOO_MANY")
        #expect(self.reason { () throws(GateError) in try self.register(instanceID: String(repeating: "é", count: 127)) } == "TOO_LONG")
    }

    /// A subscription records its instance too: its names and version have the same bounds,
    /// counted in octets (one character can be many: a letter with a thousand combining marks).
    @Test func aSubscriptionsNamesAndVersionAreBounded() {
        let oneCharacter = "a" + String(repeating: "\u{301}", count: 1_000)
        #expect(oneCharacter.count == 1)
        #expect(self.reason { () throws(GateError) in try self.limits.checkSubscriber(component: oneCharacter, instanceID: "n", version: "") } == "TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.limits.checkSubscriber(component: "kubelet", instanceID: oneCharacter, version: "") } == "TOO_LONG")
        let longVersion = "1.0.0-" + String(repeating: "a", count: 1_000_000)
        #expect(self.reason { () throws(GateError) in try self.limits.checkSubscriber(component: "kubelet", instanceID: "n", version: longVersion) } == "TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.limits.checkSubscriber(component: "kubelet", instanceID: "", version: "") } == nil, "a watch names no instance or version")
    }

    @Test func aWriteHasABoundedReasonAndASetBoundedChanges() {
        let change = Change.setFeature("Foo", scope: .global, enabled: true)
        func batch(_ changes: Int, reason: String) -> ChangeBatch {
            ChangeBatch(changes: Array(repeating: change, count: changes), reason: reason, actor: "admin")
        }
        #expect(self.reason { () throws(GateError) in try self.limits.checkWrite(batch(1, reason: String(repeating: "r", count: 1_024)), isSet: true) } == nil)
        #expect(self.reason { () throws(GateError) in try self.limits.checkWrite(batch(1, reason: String(repeating: "r", count: 1_025)), isSet: true) } == "REASON_TOO_LONG")
        #expect(self.reason { () throws(GateError) in try self.limits.checkWrite(batch(32, reason: "why"), isSet: true) } == nil)
        #expect(self.reason { () throws(GateError) in try self.limits.checkWrite(batch(33, reason: "why"), isSet: true) } == "TOO_MANY_CHANGES")
        // An import is one batch of many definitions: its audit entry's size bounds it instead.
        #expect(self.reason { () throws(GateError) in try self.limits.checkWrite(batch(33, reason: "why"), isSet: false) } == nil)
    }

    /// The default number of changes per Set keeps the worst-case entry inside a 1 MiB frame.
    @Test func theDefaultChangesPerSetIsDerivedFromTheWorstCase() {
        let limits = RequestLimits()
        #expect(limits.maxAuditEntryOctets == 1_048_576 - RequestLimits.historyEnvelopeOctets)
        #expect(limits.worstCaseSetAuditOctets(changes: limits.maxChangesPerSet) <= limits.maxAuditEntryOctets)
        // The figures README and PROTOCOL.md give: 743,602 octets for 32 changes, 45 the most that fit.
        #expect(limits.worstCaseSetAuditOctets(changes: 32) == 743_602)
        #expect(limits.worstCaseSetAuditOctets(changes: 45) <= limits.maxAuditEntryOctets)
        #expect(limits.worstCaseSetAuditOctets(changes: 46) > limits.maxAuditEntryOctets)
        #expect(RequestLimits(maxFrameSize: 16_384).maxAuditEntryOctets == 16_384 - RequestLimits.historyEnvelopeOctets)
    }

    /// Measured, not only computed: a Set at every bound (longest names, names and a reason that
    /// JSON must escape, overrides replaced so that both before and after hold them) makes an
    /// entry whose History form is within the computed worst case and the size the write path
    /// estimates, and both within one History response.
    @Test func theWorstSetMakesAnEntryWithinTheBound() throws {
        let feature = "F" + String(repeating: "x", count: 252)
        let component = String(repeating: "\"", count: 253)
        // Reasons refuse control characters (INVALID_REASON), so the widest a reason can escape to
        // is two octets per character (`"` or `\\`); the computed bound still counts six.
        let reason = String(repeating: "\"", count: 1_024)
        let actor = String(repeating: "\\", count: 64)
        let limits = RequestLimits()
        var state = GateState()
        let define = ChangeBatch(changes: [.defineFeature(FeatureDefinition(name: feature, stage: .beta, defaultEnabled: false))], actor: actor)
        state = try BatchApplier().apply(define, to: state, at: UnixMilliseconds(1), liveInstances: []).state
        func set(_ enabled: Bool) -> ChangeBatch {
            ChangeBatch(
                changes: (0..<limits.maxChangesPerSet).map { index in
                    let instance = String(format: "%03d", index) + String(repeating: "\\", count: 250)
                    return .setFeature(feature, scope: .instance(component: component, id: instance), enabled: enabled)
                },
                reason: reason,
                actor: actor,
                // A component no catalog names: its longest name is the point here.
                allowsUnknownComponents: true
            )
        }
        state = try BatchApplier().apply(set(true), to: state, at: UnixMilliseconds(Int64.max / 2), liveInstances: []).state
        let applied = try BatchApplier().apply(set(false), to: state, at: UnixMilliseconds(Int64.max), liveInstances: [])
        let changes = applied.summary.changes
        #expect(changes.count == limits.maxChangesPerSet)
        #expect(changes.allSatisfy { $0.before != nil && $0.after != nil })
        let encoded = try GateRecords.encode(changes)
        let entry = AuditEntry(
            timeUnixMilliseconds: Int64.max,
            actor: actor,
            method: "/gatehouse.v1.Features/Set",
            reason: reason,
            before: encoded.before,
            after: encoded.after,
            subjects: GateService.subjects(of: changes)
        )
        let wire = GateService.wire(AuditRecord(revision: Revision(UInt64.max), entry: entry))
        let measured: [UInt8] = try wire.serializedBytes()
        let estimated = AuditEntrySize.upperBound(entry, changes: changes)
        #expect(wire.changes.count == changes.count)
        #expect(measured.count <= estimated, "the write path's estimate must not be below the real size")
        #expect(estimated <= limits.worstCaseSetAuditOctets(changes: changes.count))
        #expect(limits.worstCaseSetAuditOctets(changes: changes.count) <= limits.maxAuditEntryOctets)
        let response: [UInt8] = try Gatehouse_V1_HistoryResponse.with {
            $0.entries = [wire]
            $0.more = true
            $0.revision = UInt64.max
        }.serializedBytes()
        #expect(response.count <= 1_048_576)
        // And the bound is not slack: the entry is a good share of it (the bound counts the
        // reason at six octets a character, a real reason escapes to two at most).
        #expect(measured.count * 3 > limits.worstCaseSetAuditOctets(changes: changes.count))
    }
}

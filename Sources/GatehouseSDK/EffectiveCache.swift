import GatehouseProto
import GatehouseWire

/// The effective state as the server pushed it, and the rules for changing it.
///
/// Pure and value-typed, so applying snapshots and deltas (and refusing a
/// delta that does not follow on from the state held) is tested without a
/// network. The component publishes views of it; it never holds offline
/// policy or compiled defaults, only what a server (or a last-known-good file,
/// which is a saved server snapshot) said.
struct EffectiveCache: Hashable, Sendable {
    /// The revision of the last snapshot or delta applied; 0 before any.
    var revision: UInt64
    var features: [String: FeatureState]
    var apis: [APIRef: APIState]

    init(revision: UInt64 = 0, features: [String: FeatureState] = [:], apis: [APIRef: APIState] = [:]) {
        self.revision = revision
        self.features = features
        self.apis = apis
    }

    /// Why a pushed message could not be applied.
    enum ApplyError: Error, Hashable {
        /// The delta follows on from another revision: something was missed; resubscribe for a snapshot.
        case baseRevisionMismatch(held: UInt64, base: UInt64)
        /// An entry is not valid (no version on an API, a parameter without a value): NACK it.
        case invalidEntries(message: String, entries: [String])
    }

    /// Stages to assume when the server sends none (an older server): the compiled-in one, else alpha,
    /// so an entry of unknown maturity fails closed offline rather than staying on.
    struct StageHints: Hashable, Sendable {
        var features: [String: Stage] = [:]
        var apis: [APIRef: Stage] = [:]
    }

    /// The state a snapshot describes: it replaces everything held.
    static func from(_ snapshot: Gatehouse_V1_Snapshot, hints: StageHints = StageHints()) throws(ApplyError) -> EffectiveCache {
        var cache = EffectiveCache(revision: snapshot.revision)
        var errors = EntryErrors()
        for feature in snapshot.features {
            if let state = errors.decode(feature, fallbackStage: cache.features[feature.name]?.stage ?? hints.features[feature.name]) {
                cache.features[feature.name] = state
            }
        }
        for api in snapshot.apis {
            if let state = errors.decode(api, hints: hints, held: [:]) {
                cache.apis[state.ref] = state
            }
        }
        try errors.throwIfAny(revision: snapshot.revision)
        return cache
    }

    /// The state after `delta`, which must follow on from this state.
    ///
    /// `base_revision` is the revision at which the instance's state last
    /// changed before the delta: the server shares one encoded delta among
    /// instances whose state is identical, so after a snapshot at r20 the next
    /// delta may say base r12 (nothing changed for this instance in between).
    /// A base later than the held revision means a change was missed; a delta
    /// not later than the held revision is a replay.
    func applying(_ delta: Gatehouse_V1_Delta, hints: StageHints = StageHints()) throws(ApplyError) -> EffectiveCache {
        guard delta.baseRevision <= self.revision, delta.revision > self.revision else {
            throw .baseRevisionMismatch(held: self.revision, base: delta.baseRevision)
        }
        var next = self
        next.revision = delta.revision
        var errors = EntryErrors()
        for feature in delta.features {
            if let state = errors.decode(feature, fallbackStage: self.features[feature.name]?.stage ?? hints.features[feature.name]) {
                next.features[feature.name] = state
            }
        }
        for api in delta.apis {
            if let state = errors.decode(api, hints: hints, held: self.apis) {
                next.apis[state.ref] = state
            }
        }
        for name in delta.removedFeatures {
            next.features[name] = nil
        }
        for wire in delta.removedApis {
            do {
                next.apis[try APIRef(wire: wire, field: "removed_apis")] = nil
            } catch {
                errors.add("\(wire.group)/\(wire.version)", error.message)
            }
        }
        try errors.throwIfAny(revision: delta.revision)
        return next
    }

    /// The cache as a snapshot message, sorted as the server sorts: what the last-known-good file stores.
    var wireSnapshot: Gatehouse_V1_Snapshot {
        .with { snapshot in
            snapshot.revision = self.revision
            snapshot.features = self.features.sorted { $0.key < $1.key }.map { name, state in
                Gatehouse_V1_EffectiveFeature.with {
                    $0.name = name
                    $0.enabled = state.enabled
                    $0.params = state.parameters.mapValues(\.wire)
                    $0.stage = state.stage.wire
                }
            }
            snapshot.apis = self.apis.values.sorted { $0.ref < $1.ref }.map { state in
                Gatehouse_V1_EffectiveApi.with {
                    $0.api = state.ref.wire
                    $0.enabled = state.enabled
                    $0.stage = state.stage.wire
                }
            }
        }
    }
}

/// Collects every bad entry of one message, so a NACK names them all at once.
private struct EntryErrors {
    var messages: [String] = []
    var entries: [String] = []

    mutating func add(_ entry: String, _ message: String) {
        self.entries.append(entry)
        self.messages.append(message)
    }

    mutating func decode(_ wire: Gatehouse_V1_EffectiveFeature, fallbackStage: Stage?) -> FeatureState? {
        guard !wire.name.isEmpty else {
            self.add("", "a feature without a name")
            return nil
        }
        var parameters: [String: ParameterValue] = [:]
        for (name, value) in wire.params {
            do {
                parameters[name] = try ParameterValue(wire: value, field: "\(wire.name).params[\(name)]")
            } catch {
                self.add(wire.name, error.message)
                return nil
            }
        }
        let stage = (try? Stage(wire: wire.stage, field: "stage")) ?? fallbackStage ?? .alpha
        return FeatureState(enabled: wire.enabled, parameters: parameters, stage: stage)
    }

    mutating func decode(_ wire: Gatehouse_V1_EffectiveApi, hints: EffectiveCache.StageHints, held: [APIRef: APIState]) -> APIState? {
        let ref: APIRef
        do {
            ref = try APIRef(wire: wire.api, field: "api")
        } catch {
            self.add("\(wire.api.group)/\(wire.api.version)", error.message)
            return nil
        }
        let stage = (try? Stage(wire: wire.stage, field: "stage")) ?? held[ref]?.stage ?? hints.apis[ref] ?? .alpha
        return APIState(ref: ref, enabled: wire.enabled, stage: stage)
    }

    func throwIfAny(revision: UInt64) throws(EffectiveCache.ApplyError) {
        guard !self.entries.isEmpty else { return }
        throw .invalidEntries(message: "revision \(revision) has invalid entries: \(self.messages.joined(separator: "; "))", entries: self.entries)
    }
}

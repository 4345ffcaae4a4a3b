import GatehouseCore
import GatehouseProto

extension Reason {
    /// The rule that decided, with its scope, selector and revision where it has them.
    public var wire: Gatehouse_V1_Decision {
        .with { decision in
            decision.text = self.description
            switch self {
            case .locked:
                decision.rule = .locked
            case .override(let scope, let revision):
                decision.rule = Self.rule(for: scope)
                decision.scope = scope.wire
                decision.revision = revision.rawValue
            case .apiSelector(let scope, let selector, let revision):
                decision.rule = Self.rule(for: scope)
                decision.scope = scope.wire
                decision.selector = selector.wire
                decision.revision = revision.rawValue
            case .rollout(let rollout):
                // The text carries the step, its size and the bucket ("rollout r7 step 2/4 (10%), bucket 0.031").
                decision.rule = .rollout
                decision.rollout = rollout.name
            case .defaultValue:
                decision.rule = .default
            case .stageDefault:
                decision.rule = .stageDefault
            case .dependencyDisabled:
                decision.rule = .dependencyDisabled
            case .versionTooOld:
                decision.rule = .versionTooOld
            }
        }
    }

    private static func rule(for scope: Scope) -> Gatehouse_V1_Rule {
        switch scope {
        case .global: .globalOverride
        case .component: .componentOverride
        case .instance: .instanceOverride
        }
    }
}

extension EffectiveState {
    /// Every entry with the rule that decided it, features then APIs, sorted.
    public var wireExplanation: Gatehouse_V1_ExplainResponse {
        .with { response in
            response.revision = self.revision.rawValue
            let features = self.features.values.sorted { $0.name < $1.name }.map { feature in
                Gatehouse_V1_ExplainEntry.with { entry in
                    entry.feature = .with {
                        $0.name = feature.name
                        $0.enabled = feature.enabled
                        $0.params = feature.parameters.mapValues(\.wire)
                    }
                    entry.reason = feature.reason.wire
                    entry.paramReasons = feature.parameterReasons.mapValues(\.wire)
                }
            }
            let apis = self.apis.values.sorted { $0.ref < $1.ref }.map { api in
                Gatehouse_V1_ExplainEntry.with { entry in
                    entry.api = .with { $0.api = api.ref.wire; $0.enabled = api.enabled }
                    entry.reason = api.reason.wire
                }
            }
            response.entries = features + apis
        }
    }
}

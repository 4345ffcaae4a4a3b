import GatehouseCore
import GatehouseProto

extension PushedFeature {
    public var wire: Gatehouse_V1_EffectiveFeature {
        .with {
            $0.name = self.name
            $0.enabled = self.enabled
            $0.params = self.parameters.mapValues(\.wire)
            $0.stage = self.stage.wire
        }
    }
}

extension PushedAPI {
    public var wire: Gatehouse_V1_EffectiveApi {
        .with {
            $0.api = self.ref.wire
            $0.enabled = self.enabled
            $0.stage = self.stage.wire
        }
    }
}

extension PushState {
    /// The whole state as a subscription's first message, at `revision` (the
    /// server's current one, which may be later than the last change to this state).
    public func wireSnapshot(revision: Revision, reset: Bool) -> Gatehouse_V1_SubscribeResponse {
        .with { response in
            response.snapshot = .with {
                $0.revision = revision.rawValue
                $0.reset = reset
                $0.features = self.features.values.sorted { $0.name < $1.name }.map(\.wire)
                $0.apis = self.apis.values.sorted { $0.ref < $1.ref }.map(\.wire)
            }
        }
    }
}

extension PushDelta {
    public var wire: Gatehouse_V1_SubscribeResponse {
        .with { response in
            response.delta = .with {
                $0.revision = self.revision.rawValue
                $0.baseRevision = self.baseRevision.rawValue
                $0.features = self.features.map(\.wire)
                $0.apis = self.apis.map(\.wire)
                $0.removedFeatures = self.removedFeatures
                $0.removedApis = self.removedAPIs.map(\.wire)
            }
        }
    }
}

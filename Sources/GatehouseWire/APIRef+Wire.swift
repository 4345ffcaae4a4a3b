import GatehouseCore
import GatehouseProto

extension APIRef {
    public var wire: Gatehouse_V1_ApiRef {
        .with {
            $0.group = self.group
            $0.version = self.version
            $0.resource = self.resource ?? ""
        }
    }

    public init(wire: Gatehouse_V1_ApiRef, field: String) throws(GateError) {
        guard !wire.version.isEmpty else { throw invalid("\(field).version", "a version is required, e.g. v1beta1") }
        self.init(group: wire.group, version: wire.version, resource: wire.resource.isEmpty ? nil : wire.resource)
    }
}

extension APISelector {
    public var wire: Gatehouse_V1_ApiSelector {
        .with { selector in
            switch self {
            case .all: selector.all = Gatehouse_V1_AllApis()
            case .stage(let stage): selector.stage = stage.wire
            case .groupVersion(let groupVersion): selector.api = APIRef(groupVersion).wire
            case .resource(let ref): selector.api = ref.wire
            }
        }
    }

    public init(wire: Gatehouse_V1_ApiSelector, field: String) throws(GateError) {
        switch wire.selector {
        case .all: self = .all
        case .stage(let stage): self = .stage(try Stage(wire: stage, field: "\(field).stage"))
        case .api(let ref): self = .api(try APIRef(wire: ref, field: "\(field).api"))
        case nil: throw invalid(field, "an API selector is required: all, a stage, or an API")
        }
    }
}

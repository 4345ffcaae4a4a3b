import GatehouseCore
import GatehouseProto

extension Scope {
    public var wire: Gatehouse_V1_Scope {
        .with { scope in
            switch self {
            case .global: scope.global = Gatehouse_V1_GlobalScope()
            case .component(let name): scope.component = .with { $0.component = name }
            case .instance(let component, let id): scope.instance = .with { $0.component = component; $0.instanceID = id }
            }
        }
    }

    /// A scope from the wire; a missing scope is refused rather than taken as global,
    /// so a client that forgets it cannot change every component by accident.
    public init(wire: Gatehouse_V1_Scope, field: String) throws(GateError) {
        switch wire.scope {
        case .global: self = .global
        case .component(let component):
            guard !component.component.isEmpty else { throw invalid("\(field).component", "a component name is required") }
            self = .component(component.component)
        case .instance(let instance):
            guard !instance.component.isEmpty, !instance.instanceID.isEmpty else {
                throw invalid("\(field).instance", "a component name and an instance id are required")
            }
            self = .instance(component: instance.component, id: instance.instanceID)
        case nil:
            throw invalid(field, "a scope is required: global, component or instance")
        }
    }
}

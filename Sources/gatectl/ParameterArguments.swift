import ArgumentParser
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// `--param name=value` pairs, typed by the feature's own parameter specs.
///
/// The text is parsed with the domain's `ParameterSpec.value(parsing:feature:)`,
/// so `timeout=30s` becomes a duration, `batch_size=50` an integer, and a
/// value out of range is refused (INVALID_ARGUMENT, exit 65) before any change is sent.
enum ParameterArguments {
    /// Splits `name=value`; a usage error when there is no `=` or no name.
    static func split(_ argument: String) throws -> (name: String, value: String) {
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw ValidationError("--param expects name=value, e.g. --param timeout=30s; got \"\(argument)\"")
        }
        return (String(parts[0]), String(parts[1]))
    }

    /// The typed wire values for `arguments`, checked against `feature`'s parameters.
    static func values(_ arguments: [String], for feature: Gatehouse_V1_Feature) throws -> [String: Gatehouse_V1_ParameterValue] {
        let definition = try FeatureDefinition(wire: feature, field: "feature")
        var values: [String: Gatehouse_V1_ParameterValue] = [:]
        for argument in arguments {
            let (name, text) = try Self.split(argument)
            guard let spec = definition.parameters.first(where: { $0.name == name }) else {
                let known = definition.parameters.isEmpty
                    ? "it takes none"
                    : "it takes " + definition.parameters.map { "\($0.name) (\($0.kind.typeName))" }.joined(separator: ", ")
                throw GateError("feature \(definition.name) has no parameter \(name); \(known)", reason: .unknownParameter)
            }
            guard values[name] == nil else {
                throw ValidationError("--param \(name) is given more than once")
            }
            values[name] = try spec.value(parsing: text, feature: definition.name).wire
        }
        return values
    }
}

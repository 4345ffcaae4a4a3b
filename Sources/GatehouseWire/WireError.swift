import GatehouseCore

/// A wire message that does not describe a valid domain value.
///
/// Mapping refuses it with the field's path, so a client sees
/// INVALID_ARGUMENT naming what to fix.
func invalid(_ field: String, _ why: String) -> GateError {
    GateError("\(field): \(why)", reason: .invalidField, metadata: ["field": field])
}

// The SDK's public API speaks in the wire types (generated messages, call
// status and errors), so users import GatehouseClient alone.
@_exported import GatehouseProto
@_exported import GatehouseRPC

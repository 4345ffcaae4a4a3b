// The SDK's public API speaks in domain values (`Stage`, `ParameterValue`,
// `APIRef`), so a component imports GatehouseSDK alone.
@_exported import GatehouseCore

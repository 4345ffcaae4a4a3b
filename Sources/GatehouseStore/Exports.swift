// The store numbers batches with the domain's revision, so that a stored
// object's revision and the state's revision are one and the same type.
@_exported import struct GatehouseCore.Revision

/// One component instance as the store keeps it across a restart: opaque to
/// the store (`value` is the server's own encoding), keyed by component and
/// instance id, with the time it was last seen so old ones can be pruned.
///
/// Not gate state: instances are written outside the group commit, at no
/// revision and with no audit entry (``SQLiteGateStore/writeInstances(_:)``).
public struct StoredInstance: Sendable, Hashable {
    public var component: String
    public var instanceID: String
    public var value: [UInt8]
    public var lastSeenUnixMilliseconds: Int64

    public init(component: String, instanceID: String, value: [UInt8], lastSeenUnixMilliseconds: Int64) {
        self.component = component
        self.instanceID = instanceID
        self.value = value
        self.lastSeenUnixMilliseconds = lastSeenUnixMilliseconds
    }

    /// A change to the kept instances.
    public enum Change: Sendable, Hashable {
        /// Insert or replace the instance.
        case put(StoredInstance)
        /// Forget the instance.
        case delete(component: String, instanceID: String)
    }
}

import GatehouseCore
import GatehouseProto
import SwiftProtobuf

/// How one instance is kept in the shared directory (and, over SQLite, in the
/// store's `instances` table, ``InstancePersistence``):
/// `<prefix>instances/<component>/<instanceID>` holds a serialized
/// `gatehouse.v1.ComponentInstance` (what Components/List answers), with
/// `server` set to the server it is connected to.
///
/// Two things the registry keeps are not in that message and are derived
/// back: whether the instance is failing (its newest NACK is for a revision
/// it has not applied since) and when it disconnected (its last-seen time,
/// which its server sets when its last subscription ends; an instance that
/// registered and never subscribed counts as disconnected since then).
enum SharedInstancesCodec {
    /// The directory key of an instance, relative to `<prefix>instances/`.
    static func key(_ key: InstanceRegistry.Key) -> String {
        "\(key.component)/\(key.instanceID)"
    }

    static func encode(_ record: InstanceRegistry.Record) -> [UInt8] {
        // A message of strings and integers always serializes.
        (try? ComponentService.wire(record).serializedBytes()) ?? []
    }

    /// Why a directory entry was not taken.
    struct Unreadable: Error, CustomStringConvertible {
        var key: String
        var why: String
        var description: String { "shared instance \(key): \(why)" }
    }

    /// The record `value` holds, checked against the key it was found under.
    /// - Parameter requireServer: whether it must name its server (shared over etcd);
    ///   records kept by a single server over SQLite name none (``InstancePersistence``).
    static func decode(key: String, _ value: [UInt8], requireServer: Bool = true) throws(Unreadable) -> InstanceRegistry.Record {
        let wire: Gatehouse_V1_ComponentInstance
        do {
            wire = try Gatehouse_V1_ComponentInstance(serializedBytes: value)
        } catch {
            throw Unreadable(key: key, why: "not a ComponentInstance: \(error)")
        }
        let recordKey = InstanceRegistry.Key(component: wire.component, instanceID: wire.instanceID)
        guard Self.key(recordKey) == key else {
            throw Unreadable(key: key, why: "it holds \(wire.component)/\(wire.instanceID)")
        }
        guard !requireServer || !wire.server.isEmpty else {
            throw Unreadable(key: key, why: "it names no server")
        }
        let nacks = wire.nacks.map { nack in
            InstanceRegistry.Nack(
                revision: Revision(nack.revision),
                reason: nack.error.reason,
                message: nack.error.message,
                entries: nack.error.entries,
                timeUnixMilliseconds: nack.timeUnixMs
            )
        }
        let applied = Revision(wire.appliedRevision)
        return InstanceRegistry.Record(
            key: recordKey,
            version: wire.version,
            parsedVersion: wire.version.isEmpty ? nil : try? Version(parsing: wire.version),
            labels: wire.labels,
            identity: wire.identity,
            registeredAtUnixMilliseconds: wire.registeredAtUnixMs,
            lastSeenUnixMilliseconds: wire.lastSeenUnixMs,
            subscriptions: wire.connected ? 1 : 0,
            appliedRevision: applied,
            pushedRevision: Revision(wire.pushedRevision),
            nacks: nacks,
            failing: nacks.first.map { $0.revision > applied } ?? false,
            health: wire.hasHealth
                ? InstanceRegistry.Health(
                    healthy: wire.health.healthy,
                    message: wire.health.message,
                    entries: wire.health.entries,
                    checkedAtUnixMilliseconds: wire.health.checkedAtUnixMs,
                    receivedAtUnixMilliseconds: wire.lastSeenUnixMs
                ) : nil,
            disconnectedAtUnixMilliseconds: wire.connected ? nil : wire.lastSeenUnixMs,
            server: wire.server
        )
    }
}

import GatehouseCore
import GatehouseStore

/// The size of an audit entry as `Features/History` sends it
/// (`gatehouse.v1.AuditEntry`), computed from what the write path has in hand
/// so that an entry too large for one response is refused before it is stored.
///
/// An upper bound, not the exact size: every varint counts as its widest
/// (a length as 5 octets, a number as 10), and every change line as its
/// longest verb. It costs one pass over the batch's changes, which a toggle
/// can afford; serializing the entry to measure it would cost a copy of it.
enum AuditEntrySize {
    /// The widest a length-delimited field of `octets` can encode: tag, length, content.
    static func field(_ octets: Int) -> Int {
        1 + 5 + octets
    }

    /// Revision, time, actor, method and reason.
    static func fixedOctets(actor: Int, method: Int, reason: Int) -> Int {
        2 * (1 + 10) + Self.field(actor) + Self.field(method) + Self.field(reason)
    }

    /// The entry `History` would send for `entry`, whose `changes` lines are one per changed object.
    static func upperBound(_ entry: AuditEntry, changes: [ObjectChange]) -> Int {
        var octets = Self.fixedOctets(actor: entry.actor.utf8.count, method: entry.method.utf8.count, reason: entry.reason.utf8.count)
        octets += Self.field(entry.before.count) + Self.field(entry.after.count)
        for subject in entry.subjects {
            octets += Self.field(subject.utf8.count)
        }
        for change in changes {
            // "updated feature_override Foo@component/kubelet" (see `GateService.changeLines`).
            octets += Self.field("updated ".utf8.count + change.key.kind.utf8.count + 1 + change.key.name.utf8.count)
        }
        return octets
    }
}

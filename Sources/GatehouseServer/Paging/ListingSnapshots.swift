import GatehouseCore
import Synchronization

/// Paged listings as their first page built them, kept a while so their
/// later pages come from the same state (one consistent listing, as etcd
/// serves a paged range at the revision of its first page) and cost a
/// binary search instead of filtering and sorting the whole catalog again
/// (measured in a debug build at 50,000 features: 0.7 s a page for
/// `features list`, 1.4 s for `explain`, before this).
///
/// Only the most recent few are kept, and no more entries together than
/// ``entryCapacity`` (a 50,000-feature explanation is tens of megabytes), so
/// callers that open listings and never finish them cannot grow memory; a
/// listing that was dropped goes on from the current state in key order
/// (PROTOCOL.md 6.2).
final class ListingSnapshots: Sendable {
    /// Which listing: a method, the revision its first page was read at, its
    /// filters, and what the reader may see (a component's listing is not a viewer's).
    struct Key: Hashable, Sendable {
        var method: String
        var revision: Revision
        var filter: UInt64
        var readable: String?
    }

    private let kept: Mutex<[(key: Key, listing: any Sendable, entries: Int)]>
    /// Listings kept at most.
    let capacity: Int
    /// Entries kept at most, all listings together; a larger listing is not kept at all.
    let entryCapacity: Int

    init(capacity: Int = 8, entryCapacity: Int = 200_000) {
        self.kept = Mutex([])
        self.capacity = capacity
        self.entryCapacity = entryCapacity
    }

    /// Keeps `listing`, of `entries` entries, for the later pages of the listing `key` names.
    func keep(_ listing: some Sendable, entries: Int, for key: Key) {
        guard entries <= self.entryCapacity else { return }
        self.kept.withLock { kept in
            kept.removeAll { $0.key == key }
            kept.insert((key, listing, entries), at: 0)
            var total = kept.reduce(0) { $0 + $1.entries }
            while kept.count > self.capacity || total > self.entryCapacity {
                total -= kept.removeLast().entries
            }
        }
    }

    /// The listing `key` names, when still kept.
    func listing<Listing: Sendable>(for key: Key, as: Listing.Type = Listing.self) -> Listing? {
        self.kept.withLock { kept in kept.first { $0.key == key }?.listing as? Listing }
    }
}

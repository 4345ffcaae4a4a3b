import SwiftProtobuf

/// Cuts one page out of a listing sorted by key: at most `size` entries, and
/// no more octets than fit the caller's frame.
///
/// A unary response is one frame (PROTOCOL.md 2), so a listing that grew
/// past the caller's MAX_FRAME_SIZE used to fail whole with
/// RESOURCE_EXHAUSTED. Counting the octets each entry adds to the response
/// as it is taken makes every page fit, whatever the entries' sizes, as
/// etcd's range stops at its `limit` and says `more`.
struct Pager: Sendable {
    /// Entries at most.
    var size: Int
    /// Octets the entries may take in the response.
    var budget: Int

    /// Page size when a request asks for none.
    static let defaultSize = 500
    /// The most entries a page holds, whatever the request asks.
    static let maximumSize = 5_000
    /// Octets of a frame kept for the response's other fields and its next_page_token.
    static let reserve = PageToken.maximumTextLength + 1_024

    /// - Parameters:
    ///   - requested: the request's page_size; 0 takes `defaultSize`.
    ///   - frame: the caller's MAX_FRAME_SIZE.
    ///   - envelope: octets the response takes without its entries.
    init(requested: UInt32, defaultSize: Int = Pager.defaultSize, maximumSize: Int = Pager.maximumSize, frame: Int, envelope: Int = 0) {
        self.size = requested == 0 ? defaultSize : min(Int(requested), maximumSize)
        self.budget = max(frame - Self.reserve - envelope, 0)
    }

    /// The page of `sorted` that starts after the key `after` (from the start when nil).
    ///
    /// - Parameters:
    ///   - sorted: the whole listing, sorted by `key` ascending, keys unique.
    ///   - entry: the wire form of one element, built only for the elements on the page.
    /// - Returns: the page's entries, and the key of its last one when more follow (nil on the last page).
    func page<Source, Entry: SwiftProtobuf.Message>(
        _ sorted: [Source],
        key: (Source) -> String,
        after: String?,
        entry: (Source) throws -> Entry
    ) throws -> (entries: [Entry], next: String?) {
        var start = sorted.startIndex
        if let after {
            // The first key greater than `after`: resumes correctly even when `after` itself is gone.
            var (low, high) = (sorted.startIndex, sorted.endIndex)
            while low < high {
                let middle = low + (high - low) / 2
                if key(sorted[middle]) <= after { low = middle + 1 } else { high = middle }
            }
            start = low
        }
        var entries: [Entry] = []
        var used = 0
        var index = start
        while index < sorted.endIndex, entries.count < self.size {
            let wire = try entry(sorted[index])
            let cost = Self.cost(of: wire)
            // Always one entry: a page that made no progress would loop forever.
            guard entries.isEmpty || used + cost <= self.budget else { break }
            entries.append(wire)
            used += cost
            index += 1
        }
        let next = index < sorted.endIndex && index > start ? key(sorted[index - 1]) : nil
        return (entries, next)
    }

    /// Octets an element of a repeated message field adds to its message: tag, length, body.
    static func cost(of message: some SwiftProtobuf.Message) -> Int {
        let length = (try? message.serializedBytes() as [UInt8])?.count ?? 0
        return Self.tagLength + Self.varintLength(length) + length
    }

    /// Every repeated field a page fills has a field number below 16: a one-octet tag.
    static let tagLength = 1

    static func varintLength(_ value: Int) -> Int {
        var length = 1
        var rest = UInt64(value) >> 7
        while rest != 0 {
            length += 1
            rest >>= 7
        }
        return length
    }
}

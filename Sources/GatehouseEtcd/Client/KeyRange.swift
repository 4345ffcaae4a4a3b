/// etcd ranges are half-open byte ranges; these name the common ones.
public enum KeyRange {
    /// The `range_end` that makes [prefix, range_end) every key starting with `prefix`:
    /// the prefix with its last byte below 0xff incremented and what follows dropped,
    /// or `[0]` ("to the end of the keyspace") when every byte is 0xff.
    public static func prefixEnd(of prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }
}

import GatehouseEtcd
import Testing

@Suite("etcd key ranges")
struct KeyRangeTests {
    @Test("a prefix's end increments its last byte")
    func increments() {
        #expect(KeyRange.prefixEnd(of: Array("/gatehouse/".utf8)) == Array("/gatehouse0".utf8))
    }

    @Test("trailing 0xff bytes carry into the byte before them")
    func carries() {
        #expect(KeyRange.prefixEnd(of: [0x61, 0xff, 0xff]) == [0x62])
    }

    @Test("an all-0xff prefix ranges to the end of the keyspace")
    func allHigh() {
        #expect(KeyRange.prefixEnd(of: [0xff, 0xff]) == [0])
        #expect(KeyRange.prefixEnd(of: []) == [0])
    }
}

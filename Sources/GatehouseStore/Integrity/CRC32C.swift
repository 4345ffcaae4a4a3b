/// CRC-32C (Castagnoli), the checksum iSCSI, ext4 and LevelDB put on stored data.
///
/// It catches every burst error up to 32 bits and any other random damage
/// with probability 1 − 2⁻³², which is what a checksum against bit rot,
/// torn pages and hand edits needs. It is not a MAC: someone who can write
/// the file can recompute it, so it proves nothing against an attacker with
/// write access to the data directory. Written here (slicing-by-8, about
/// 60 lines) because the store's only system dependency is SQLite, which
/// offers no checksum function, and zlib's crc32 is the other polynomial.
package struct CRC32C: Sendable {
    /// The running register; ``value`` is its complement.
    private var register: UInt32 = 0xFFFF_FFFF

    package init() {}

    /// The checksum of everything fed so far.
    package var value: UInt32 { ~self.register }

    /// Feeds `bytes`.
    package mutating func update<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            self.update(UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            self.update(Array(bytes))
        }
    }

    /// Feeds the bytes of `buffer`, eight at a time where it can.
    package mutating func update(_ buffer: UnsafeRawBufferPointer) {
        var crc = self.register
        var index = 0
        let count = buffer.count
        Self.tables.withUnsafeBufferPointer { t in
            while count - index >= 8 {
                let low = crc ^ UInt32(buffer[index]) ^ UInt32(buffer[index + 1]) << 8
                    ^ UInt32(buffer[index + 2]) << 16 ^ UInt32(buffer[index + 3]) << 24
                let t7 = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                let t5 = t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                let t3 = t[3 * 256 + Int(buffer[index + 4])] ^ t[2 * 256 + Int(buffer[index + 5])]
                let t1 = t[1 * 256 + Int(buffer[index + 6])] ^ t[Int(buffer[index + 7])]
                crc = t7 ^ t5 ^ t3 ^ t1
                index += 8
            }
            while index < count {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(buffer[index])) & 0xFF)]
                index += 1
            }
        }
        self.register = crc
    }

    /// Feeds `value` as 8 little-endian bytes.
    package mutating func update(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { self.update($0) }
    }

    /// The checksum of `bytes` alone.
    package static func checksum<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// Eight tables of 256 entries for slicing-by-8; table 0 is the classic byte-at-a-time table
    /// of the reflected polynomial 0x82F63B78.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[(slice - 1) * 256 + byte]
                tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()
}

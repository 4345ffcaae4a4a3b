import COpenSSL

/// Moving bytes in and out of OpenSSL memory BIOs.
///
/// OpenSSL's PEM, DER and printing functions all speak BIO. These helpers
/// keep the create/free pairs in one place so no caller leaks a BIO on an
/// early return.
enum MemoryBIO {
    /// Runs `body` with a fresh, empty, growable memory BIO, then frees it.
    static func withWritable<Result>(_ body: (OpaquePointer) throws -> Result) throws -> Result {
        guard let bio = BIO_new(BIO_s_mem()) else {
            throw TLSError.fromQueue(.certificateIssuance("out of memory allocating a BIO"))
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }

    /// Runs `body` with a read-only memory BIO over `text`'s UTF-8 bytes, then frees it.
    static func withReadable<Result>(_ text: String, _ body: (OpaquePointer) throws -> Result) throws -> Result {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0] }  // BIO_new_mem_buf wants a valid pointer even for "".
        return try bytes.withUnsafeBufferPointer { pointer in
            guard let bio = BIO_new_mem_buf(pointer.baseAddress, Int32(text.utf8.count)) else {
                throw TLSError.fromQueue(.configuration("out of memory allocating a BIO"))
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Reads everything pending in `bio`.
    static func readAll(_ bio: OpaquePointer) -> [UInt8] {
        let pending = gh_BIO_pending(bio)
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        let read = bytes.withUnsafeMutableBytes { pointer in
            BIO_read(bio, pointer.baseAddress, Int32(pointer.count))
        }
        return Array(bytes.prefix(Int(max(read, 0))))
    }

    /// Reads everything pending in `bio` as UTF-8 text.
    static func readString(_ bio: OpaquePointer) -> String {
        String(decoding: readAll(bio), as: UTF8.self)
    }
}

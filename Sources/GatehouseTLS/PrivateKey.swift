import COpenSSL

/// A private key, owned by Swift.
///
/// Wraps OpenSSL's `EVP_PKEY*`. Gatehouse only generates EC P-256 keys
/// (small, fast, universally supported by TLS 1.2 and 1.3 stacks), but any
/// PEM key OpenSSL reads can be loaded, for CAs made elsewhere.
///
/// `@unchecked Sendable`: never mutated after construction; OpenSSL 3 allows
/// concurrent signing with one `EVP_PKEY`.
public final class PrivateKey: @unchecked Sendable {
    /// The owned `EVP_PKEY*`.
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        EVP_PKEY_free(self.pointer)
    }

    /// Generates a new EC key on the NIST P-256 curve.
    public static func generateP256() throws -> PrivateKey {
        OpenSSLErrorQueue.clear()
        guard let key = gh_EVP_EC_gen("P-256") else {
            throw TLSError.fromQueue(.certificateIssuance("cannot generate a P-256 key"))
        }
        return PrivateKey(takingOwnershipOf: key)
    }

    /// Parses an unencrypted PEM private key (PKCS#8 or traditional).
    public convenience init(pem: String) throws {
        let key: OpaquePointer = try MemoryBIO.withReadable(pem) { bio in
            OpenSSLErrorQueue.clear()
            guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
                throw TLSError.fromQueue(.configuration("not an unencrypted PEM private key"))
            }
            return key
        }
        self.init(takingOwnershipOf: key)
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    public var pemString: String {
        (try? MemoryBIO.withWritable { bio in
            PEM_write_bio_PrivateKey(bio, self.pointer, nil, nil, 0, nil, nil)
            return MemoryBIO.readString(bio)
        }) ?? ""
    }
}

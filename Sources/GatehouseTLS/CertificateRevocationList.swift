import COpenSSL

extension CertificateAuthority {
    /// Signs a certificate revocation list naming `revoked`, as PEM.
    ///
    /// A stolen client key must be shut out before its certificate expires;
    /// a server given this file as ``TLSConfiguration/crlPath`` refuses the
    /// listed certificates ("certificate revoked"). An empty list is valid
    /// and useful: with CRL checking on, OpenSSL wants a current CRL from
    /// every issuer, revoked or not.
    ///
    /// - Parameters:
    ///   - revoked: certificates issued by this CA to revoke (matched by serial).
    ///   - validityDays: until when (`nextUpdate`) peers may rely on this list.
    public func revocationList(revoking revoked: [X509Certificate], validityDays: Int = 30) throws -> String {
        OpenSSLErrorQueue.clear()
        guard validityDays > 0 else { throw TLSError(.certificateIssuance("CRL validity must be at least one day")) }
        guard let crl = X509_CRL_new() else { throw Self.crlFailure("out of memory") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1,  // v2, which allows extensions
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(self.certificate.pointer)) == 1
        else { throw Self.crlFailure("cannot set version or issuer") }

        guard let now = X509_gmtime_adj(nil, -300), let next = X509_gmtime_adj(nil, validityDays * 86_400) else {
            throw Self.crlFailure("cannot compute dates")
        }
        defer {
            ASN1_TIME_free(now)
            ASN1_TIME_free(next)
        }
        guard X509_CRL_set1_lastUpdate(crl, now) == 1, X509_CRL_set1_nextUpdate(crl, next) == 1 else {
            throw Self.crlFailure("cannot set lastUpdate/nextUpdate")
        }

        for certificate in revoked {
            guard let entry = X509_REVOKED_new() else { throw Self.crlFailure("out of memory") }
            guard X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(certificate.pointer)) == 1,
                  X509_REVOKED_set_revocationDate(entry, now) == 1,
                  X509_CRL_add0_revoked(crl, entry) == 1  // the CRL owns the entry from here
            else {
                X509_REVOKED_free(entry)
                throw Self.crlFailure("cannot add serial \(certificate.serialNumberHex)")
            }
        }

        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, self.certificate.pointer, nil, nil, crl, 0)
        guard let authorityKey = X509V3_EXT_conf_nid(nil, &v3, NID_authority_key_identifier, "keyid:always") else {
            throw Self.crlFailure("cannot make authorityKeyIdentifier")
        }
        defer { X509_EXTENSION_free(authorityKey) }
        guard X509_CRL_add_ext(crl, authorityKey, -1) == 1 else { throw Self.crlFailure("cannot add authorityKeyIdentifier") }

        guard X509_CRL_sort(crl) == 1, X509_CRL_sign(crl, self.privateKey.pointer, EVP_sha256()) > 0 else {
            throw Self.crlFailure("cannot sign")
        }
        return try MemoryBIO.withWritable { bio in
            guard PEM_write_bio_X509_CRL(bio, crl) == 1 else { throw Self.crlFailure("cannot encode PEM") }
            return MemoryBIO.readString(bio)
        }
    }

    private static func crlFailure(_ step: String) -> TLSError {
        TLSError.fromQueue(.certificateIssuance("CRL: \(step)"))
    }
}

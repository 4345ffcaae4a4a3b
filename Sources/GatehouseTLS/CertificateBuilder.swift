import COpenSSL

/// Assembles and signs one X.509 v3 certificate with OpenSSL's APIs.
///
/// Both the CA (self-signed) and the leaves go through here, so serials,
/// validity, names and extensions are made one way only. No shelling out to
/// `openssl`: the server's `gatehouse certs` command and dev-mode bootstrap
/// must work where no `openssl` binary exists.
struct CertificateBuilder {
    /// One X.509v3 extension in OpenSSL's configuration syntax (`critical,CA:TRUE`).
    struct Extension {
        var nid: Int32
        var value: String
    }

    var subject: CertificateSubject
    var subjectKey: PrivateKey
    var extensions: [Extension]
    var alternativeNames: [SubjectAlternativeName]
    var validityDays: Int
    /// How far in the past `notBefore` lies, so that a peer whose clock is a
    /// little behind does not reject a certificate issued a second ago.
    var backdateSeconds: Int

    /// Builds the certificate and signs it.
    ///
    /// - Parameter issuer: the CA certificate and key; `nil` for a self-signed certificate.
    func sign(issuer: (certificate: X509Certificate, key: PrivateKey)?) throws -> X509Certificate {
        OpenSSLErrorQueue.clear()
        guard self.validityDays > 0 else { throw Self.failure("validity must be at least one day") }
        guard !self.subject.commonName.isEmpty else { throw Self.failure("the subject needs a common name") }
        guard let raw = X509_new() else { throw Self.failure("out of memory") }
        let certificate = X509Certificate(takingOwnershipOf: raw)  // frees on any throw below
        let x509 = certificate.pointer

        guard X509_set_version(x509, 2) == 1 else { throw Self.failure("cannot set version 3") }
        try Self.setRandomSerial(x509)

        let notBeforeOffset = -self.backdateSeconds
        let notAfterOffset = self.validityDays * 86_400 - self.backdateSeconds
        guard X509_gmtime_adj(X509_getm_notBefore(x509), notBeforeOffset) != nil,
              X509_gmtime_adj(X509_getm_notAfter(x509), notAfterOffset) != nil
        else { throw Self.failure("cannot set validity") }

        try self.setSubject(x509)
        let issuerName = issuer.map { X509_get_subject_name($0.certificate.pointer) } ?? X509_get_subject_name(x509)
        guard X509_set_issuer_name(x509, issuerName) == 1 else { throw Self.failure("cannot set issuer") }
        guard X509_set_pubkey(x509, self.subjectKey.pointer) == 1 else { throw Self.failure("cannot set public key") }

        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer?.certificate.pointer ?? x509, x509, nil, nil, 0)
        for ext in self.extensions {
            guard let made = X509V3_EXT_conf_nid(nil, &v3, ext.nid, ext.value) else {
                throw Self.failure("cannot make extension \(String(cString: OBJ_nid2sn(ext.nid))) = \(ext.value)")
            }
            defer { X509_EXTENSION_free(made) }
            guard X509_add_ext(x509, made, -1) == 1 else { throw Self.failure("cannot add extension") }
        }
        if !self.alternativeNames.isEmpty {
            try self.addAlternativeNames(x509)
        }

        let signingKey = issuer?.key ?? self.subjectKey
        guard X509_sign(x509, signingKey.pointer, EVP_sha256()) > 0 else { throw Self.failure("cannot sign") }
        return certificate
    }

    /// A random positive 127-bit serial: unique without a serial database (RFC 5280 allows ≤ 20 octets).
    private static func setRandomSerial(_ x509: OpaquePointer) throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw failure("no randomness for the serial") }
        bytes[0] &= 0x7f  // positive
        bytes[0] |= 0x40  // and full length, so every serial has the same size
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw failure("out of memory") }
        defer { BN_free(number) }
        guard BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil else {
            throw failure("cannot set serial")
        }
    }

    /// Subject as O, then OU, then CN (so RFC 2253 prints `CN=…,OU=…,O=…`).
    private func setSubject(_ x509: OpaquePointer) throws {
        guard let name = X509_NAME_new() else { throw Self.failure("out of memory") }
        defer { X509_NAME_free(name) }
        let entries = self.subject.organizations.map { ("O", $0) }
            + self.subject.organizationalUnits.map { ("OU", $0) }
            + [("CN", self.subject.commonName)]
        for (field, value) in entries {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, field, gh_MBSTRING_UTF8(), bytes, Int32(bytes.count), -1, 0) == 1 else {
                throw Self.failure("invalid subject \(field)=\(value)")
            }
        }
        guard X509_set_subject_name(x509, name) == 1 else { throw Self.failure("cannot set subject") }
    }

    /// The subjectAltName extension, built from GENERAL_NAMEs rather than a
    /// config string, so that no value can inject another name through a comma.
    private func addAlternativeNames(_ x509: OpaquePointer) throws {
        guard let names = gh_sk_GENERAL_NAME_new_null() else { throw Self.failure("out of memory") }
        defer { gh_GENERAL_NAMES_free(names) }
        for alternativeName in self.alternativeNames {
            guard let general = GENERAL_NAME_new() else { throw Self.failure("out of memory") }
            switch alternativeName {
            case .dns(let value), .uri(let value), .email(let value):
                guard !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                    GENERAL_NAME_free(general)
                    throw Self.failure("\(alternativeName) must be non-empty printable ASCII")
                }
                guard let string = ASN1_IA5STRING_new() else {
                    GENERAL_NAME_free(general)
                    throw Self.failure("out of memory")
                }
                if case .dns = alternativeName, !Self.isDNSName(value) {
                    GENERAL_NAME_free(general)
                    throw Self.failure("\(value) is not a DNS name")
                }
                let bytes = Array(value.utf8)
                ASN1_STRING_set(string, bytes, Int32(bytes.count))
                let type: Int32
                switch alternativeName {
                case .dns: type = GEN_DNS
                case .uri: type = GEN_URI
                case .email: type = GEN_EMAIL
                case .ip: preconditionFailure("unreachable: handled below")
                }
                GENERAL_NAME_set0_value(general, type, UnsafeMutableRawPointer(string))
            case .ip(let value):
                guard let octets = a2i_IPADDRESS(value) else {
                    GENERAL_NAME_free(general)
                    throw Self.failure("\(value) is not an IP address")
                }
                GENERAL_NAME_set0_value(general, GEN_IPADD, UnsafeMutableRawPointer(octets))
            }
            guard gh_sk_GENERAL_NAME_push(names, general) > 0 else {
                GENERAL_NAME_free(general)
                throw Self.failure("out of memory")
            }
        }
        guard X509_add1_ext_i2d(x509, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0, UInt(X509V3_ADD_DEFAULT)) == 1 else {
            throw Self.failure("cannot add subjectAltName")
        }
    }

    /// Letters, digits, hyphens and dots, optionally a leading `*.` wildcard label.
    private static func isDNSName(_ name: String) -> Bool {
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" && labels.count > 2 { labels.removeFirst() }
        return name.utf8.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
        }
    }

    private static func failure(_ step: String) -> TLSError {
        TLSError.fromQueue(.certificateIssuance(step))
    }
}

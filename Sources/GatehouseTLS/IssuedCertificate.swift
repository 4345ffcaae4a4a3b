#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A certificate together with its private key, as issued.
///
/// Carries PEM text because that is what every consumer wants: files for
/// ``TLSConfiguration``, or output of `gatehouse certs`.
public struct IssuedCertificate: Sendable {
    /// The parsed certificate, to inspect what was issued.
    public let certificate: X509Certificate
    /// The certificate as PEM.
    public let certificatePEM: String
    /// The private key as unencrypted PKCS#8 PEM. Keep it secret: written with mode 0600.
    public let privateKeyPEM: String

    init(certificate: X509Certificate, privateKey: PrivateKey) {
        self.certificate = certificate
        self.certificatePEM = certificate.pemString
        self.privateKeyPEM = privateKey.pemString
    }

    /// Writes the certificate (mode 0644) and the key (mode 0600) to the given paths.
    ///
    /// - Parameter overwrite: when `false` (the default), fails without writing
    ///   anything if either file exists, so an existing CA or identity is never
    ///   replaced by accident.
    public func write(certificateTo certificatePath: String, keyTo keyPath: String, overwrite: Bool = false) throws {
        if !overwrite {
            for path in [certificatePath, keyPath] where access(path, F_OK) == 0 {
                throw TLSError(.configuration("\(path) already exists; refusing to overwrite it"))
            }
        }
        try FileAccess.writeFile(self.privateKeyPEM, to: keyPath, mode: 0o600, overwrite: overwrite)
        try FileAccess.writeFile(self.certificatePEM, to: certificatePath, mode: 0o644, overwrite: overwrite)
    }

    /// Writes `<name>.pem` and `<name>-key.pem` into `directory` and returns their paths.
    ///
    /// - Parameter overwrite: see ``write(certificateTo:keyTo:overwrite:)``.
    @discardableResult
    public func write(toDirectory directory: String, name: String, overwrite: Bool = false) throws -> (certificatePath: String, keyPath: String) {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let paths = (certificatePath: "\(base)/\(name).pem", keyPath: "\(base)/\(name)-key.pem")
        try self.write(certificateTo: paths.certificatePath, keyTo: paths.keyPath, overwrite: overwrite)
        return paths
    }
}

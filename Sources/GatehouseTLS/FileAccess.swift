#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing the small PEM files TLS needs, with errors that name the path.
///
/// OpenSSL's own file loaders report a missing file as an opaque
/// `system library` entry; operators need "cannot read /etc/gatehouse/ca.pem:
/// No such file or directory". Written with POSIX calls so the TLS module
/// does not pull in Foundation, and so a key file can be created with mode
/// 0600 atomically (never briefly world-readable).
enum FileAccess {
    /// Fails with a configuration error naming `path` unless the file can be opened for reading.
    static func checkReadable(_ path: String, what: String) throws {
        guard let file = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            throw TLSError(.configuration("cannot read \(what) at \(path): \(reason)"))
        }
        fclose(file)
    }

    /// Returns the whole content of the file at `path` as UTF-8 text.
    static func readText(_ path: String, what: String) throws -> String {
        guard let file = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            throw TLSError(.configuration("cannot read \(what) at \(path): \(reason)"))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count > 0 { bytes.append(contentsOf: chunk.prefix(count)) }
            if count < chunk.count {
                if ferror(file) != 0 {
                    throw TLSError(.configuration("error reading \(what) at \(path)"))
                }
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path` with exactly `mode` permissions.
    ///
    /// - Parameters:
    ///   - overwrite: when `false`, an existing file is an error and is left untouched
    ///     (`O_EXCL`), so a CA key is never clobbered by accident.
    static func writeFile(_ text: String, to path: String, mode: mode_t, overwrite: Bool) throws {
        var flags = O_WRONLY | O_CREAT | O_TRUNC
        if !overwrite { flags |= O_EXCL }
        let descriptor = open(path, flags, mode)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TLSError(.configuration("cannot create \(path): \(reason)"))
        }
        defer { close(descriptor) }
        // The umask may have narrowed `mode`, and an overwritten file keeps its old mode: set it exactly.
        guard fchmod(descriptor, mode) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TLSError(.configuration("cannot set mode of \(path): \(reason)"))
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                throw TLSError(.configuration("cannot write \(path): \(reason)"))
            }
            offset += written
        }
    }
}

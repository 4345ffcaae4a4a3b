#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes the files of the data directory: atomically, with an exact mode, and only when they change.
///
/// A file is written to a temporary name beside it, fsynced, renamed over
/// the target and the directory fsynced, so a crash or a full disk leaves
/// the old file or the new one, never a torn one. When the file already
/// holds exactly these bytes and this mode nothing is written at all: a
/// restart does not touch `admin.conf` (its mtime stays, and a full disk
/// cannot make the restart fail), and a client reading it never sees it
/// replaced by the same content. The mode is set with `fchmod`, so the
/// umask cannot widen or narrow it.
enum PrivateFile {
    struct WriteError: Error, CustomStringConvertible {
        var path: String
        var step: String
        var errno: Int32

        var description: String {
            "cannot write \(self.path): \(self.step) failed: \(String(cString: strerror(self.errno)))"
        }
    }

    /// Makes `path` hold `contents` with `mode`; returns whether it wrote anything.
    @discardableResult
    static func write(_ contents: String, to path: String, mode: mode_t = 0o600) throws -> Bool {
        let bytes = Array(contents.utf8)
        if Self.holds(path, bytes, mode) {
            return false
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let temporary = "\(path).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard descriptor >= 0 else {
            throw WriteError(path: temporary, step: "open", errno: errno)
        }
        var failure: WriteError?
        if fchmod(descriptor, mode) != 0 {
            failure = WriteError(path: temporary, step: "fchmod", errno: errno)
        }
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = WriteError(path: temporary, step: "write", errno: errno)
            } else {
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 {
            failure = WriteError(path: temporary, step: "fsync", errno: errno)
        }
        close(descriptor)
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let error = WriteError(path: path, step: "rename", errno: errno)
            unlink(temporary)
            throw error
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        return true
    }

    /// Creates `path` as a directory with exactly `mode` (parents as needed), or leaves an existing one alone.
    ///
    /// An existing directory keeps its mode: an operator may have chosen a
    /// wider one on purpose (a group that reads the certificates).
    static func createDirectory(_ path: String, mode: mode_t = 0o700) throws {
        var status = stat()
        if stat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else {
                throw WriteError(path: path, step: "mkdir (it exists and is not a directory)", errno: ENOTDIR)
            }
            return
        }
        let parent = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw WriteError(path: path, step: "mkdir", errno: errno)
        }
        // mkdir's mode is narrowed by the umask; set it exactly.
        guard chmod(path, mode) == 0 else {
            throw WriteError(path: path, step: "chmod", errno: errno)
        }
    }

    /// Whether `path` is a regular file holding exactly `bytes` with permission bits `mode`.
    private static func holds(_ path: String, _ bytes: [UInt8], _ mode: mode_t) -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o7777 == mode,
            Int(status.st_size) == bytes.count,
            let existing = FileManager.default.contents(atPath: path)
        else {
            return false
        }
        return existing.elementsEqual(bytes)
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Musl)
private let systemWrite = Musl.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

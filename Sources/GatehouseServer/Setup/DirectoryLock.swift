import Glibc

/// An exclusive `flock` on the data directory itself, held while a server over
/// etcd runs.
///
/// Over SQLite the store's lock on `gatehouse.db` keeps a second server out of
/// a directory; over etcd there is no database, yet two servers given the same
/// `--data-dir` would still rewrite each other's `admin.conf`, certificates and
/// policy. The lock is on the directory (Linux allows `flock` on a directory's
/// descriptor), so there is no lock file to leave behind or remove by mistake,
/// and the kernel drops it when the process dies.
final class DirectoryLock: Sendable {
    private let descriptor: Int32

    /// - Throws: ``DataDirectoryError/inUse(directory:lockedPath:)`` when another
    ///   process (or another server in this one) holds it.
    init(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw DataDirectoryError.unusable(directory: path, detail: "cannot open it: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let detail = String(cString: strerror(errno))
            close(descriptor)
            throw busy
                ? DataDirectoryError.inUse(directory: path, lockedPath: path)
                : DataDirectoryError.unusable(directory: path, detail: "cannot lock it: \(detail)")
        }
        self.descriptor = descriptor
    }

    deinit {
        close(self.descriptor)
    }
}

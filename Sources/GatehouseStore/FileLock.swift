import CSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<database>.lock`, held from open to close.
///
/// The store's in-memory snapshot is the source of truth for reads, so a
/// second process (or a second store in this one) writing the same file
/// would silently diverge from it. SQLite's own locks only serialize
/// transactions; this lock makes a second opener fail at once. The kernel
/// drops it when the process dies, so a crash never leaves it behind.
final class FileLock: Sendable {
    private let descriptor: Mutex<Int32?>

    init(path: String, databasePath: String) throws(StoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError.sqlite(
                code: SQLITE_CANTOPEN,
                message: "cannot open lock file \(path): \(String(cString: strerror(errno)))",
                operation: "open",
                path: databasePath
            )
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw StoreError.alreadyOpen(lockPath: path, path: databasePath)
        }
        self.descriptor = Mutex(descriptor)
    }

    /// Releases the lock; later calls do nothing.
    func release() {
        self.descriptor.withLock { descriptor in
            if let open = descriptor {
                close(open)
                descriptor = nil
            }
        }
    }

    deinit {
        self.release()
    }
}

import CSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on the database file itself, held from open to close.
///
/// The store's in-memory snapshot is the source of truth for reads, so a
/// second process (or a second store in this one) writing the same file
/// would silently diverge from it. SQLite's own locks only serialize
/// transactions; this lock makes a second opener fail at once. The kernel
/// drops it when the process dies, so a crash never leaves it behind.
///
/// It is on the database file, not on a `.lock` file beside it, so no stray
/// `rm` can break it: removing the database removes what it guards too.
/// `flock(2)` locks are independent of the POSIX `fcntl` byte-range locks
/// SQLite takes on the same file (on Linux and the BSDs), so the two never
/// block each other, and other processes may still open the file read-only
/// (`gatehouse check` does).
///
/// One trap remains: closing *any* descriptor of a file drops every `fcntl`
/// lock the process holds on it, SQLite's included. So a descriptor is only
/// ever closed when no SQLite connection of this process has the file open:
/// a second open in the same process is refused from a process-wide table of
/// the files locked here, before it opens a descriptor at all (SQLite keeps
/// the same kind of table for the same reason), and ``release()`` runs after
/// the store has closed its connections.
///
/// The file is created with mode 0600 when missing: SQLite then gives the
/// `-wal` and `-shm` files the same mode, whatever the umask.
final class FileLock: Sendable {
    /// Device and inode of every file a store of this process holds.
    private static let held = Mutex<Set<FileIdentity>>([])

    fileprivate struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private let state: Mutex<(descriptor: Int32, identity: FileIdentity)?>

    init(databasePath path: String) throws(StoreError) {
        let locked = Self.held.withLock { held -> Result<(Int32, FileIdentity), StoreError> in
            var existing = stat()
            if stat(path, &existing) == 0, held.contains(FileIdentity(existing)) {
                return .failure(.alreadyOpen(path: path))
            }
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                return .failure(Self.error("open", path))
            }
            var opened = stat()
            guard fstat(descriptor, &opened) == 0 else {
                let error = Self.error("fstat", path)
                close(descriptor)
                return .failure(error)
            }
            let identity = FileIdentity(opened)
            guard !held.contains(identity) else {
                // Replaced under us by a file this process already holds: closing this
                // descriptor would drop SQLite's locks on it, so keep it open (one leaked descriptor).
                return .failure(.alreadyOpen(path: path))
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                let busy = errno == EWOULDBLOCK
                let error = busy ? StoreError.alreadyOpen(path: path) : Self.error("flock", path)
                close(descriptor)  // no connection of this process has it open (not in `held`)
                return .failure(error)
            }
            held.insert(identity)
            return .success((descriptor, identity))
        }
        switch locked {
        case .success(let (descriptor, identity)):
            self.state = Mutex((descriptor, identity))
        case .failure(let error):
            throw error
        }
    }

    /// Releases the lock; later calls do nothing. Call it only after the store's connections are closed.
    func release() {
        self.state.withLock { state in
            guard let (descriptor, identity) = state else {
                return
            }
            Self.held.withLock { held in
                close(descriptor)
                _ = held.remove(identity)
            }
            state = nil
        }
    }

    deinit {
        self.release()
    }

    private static func error(_ operation: String, _ path: String) -> StoreError {
        .sqlite(
            code: SQLITE_CANTOPEN,
            message: "cannot \(operation) \(path) to lock it: \(String(cString: strerror(errno)))",
            operation: operation,
            path: path
        )
    }
}

extension FileLock.FileIdentity {
    init(_ status: stat) {
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }
}

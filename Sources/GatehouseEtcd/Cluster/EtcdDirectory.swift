import EtcdProto
import Foundation
import Logging

/// A directory of small values under one etcd prefix that several servers
/// write and all of them follow: the shape of the shared instance list
/// (`<prefix>instances/<component>/<id>`), knowing nothing of instances.
///
/// Writes go in Txns of at most ``maxOperationsPerTxn`` operations (etcd
/// refuses more than `--max-txn-ops`, 128 by default), each put under the
/// writer's lease. ``follow(logger:)`` reads the whole directory once, then
/// watches it from the revision after; a broken watch resumes where it
/// stopped, a compacted one starts again from a fresh read.
public struct EtcdDirectory: Sendable {
    public let kv: any EtcdKV
    /// Every key of the directory starts with it, e.g. `/gatehouse/instances/`.
    public let prefix: String

    /// At most this many operations per Txn, under etcd's default `--max-txn-ops` (128).
    public static let maxOperationsPerTxn = 100
    /// Keys read per page of the initial Range.
    public static let pageSize: Int64 = 1_000

    public init(kv: any EtcdKV, prefix: String) {
        self.kv = kv
        self.prefix = prefix
    }

    /// One write: a value put under a key (relative to ``prefix``) or a key deleted.
    public enum Change: Sendable, Equatable {
        case put(key: String, value: [UInt8])
        case delete(key: String)

        public var key: String {
            switch self {
            case .put(let key, _), .delete(let key): key
            }
        }
    }

    /// One entry as read: its key (relative to ``prefix``), value and etcd's bookkeeping.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: [UInt8]
        public var modRevision: Int64
        public var lease: Int64
    }

    /// What ``follow(logger:)`` yields.
    public enum Event: Sendable, Equatable {
        /// The whole directory as of one revision: replaces everything known before.
        case snapshot([Entry])
        case put(Entry)
        case deleted(key: String)
    }

    /// Writes `changes` (puts under `lease`), at most ``maxOperationsPerTxn`` per Txn, in order.
    ///
    /// - Throws: the first failing Txn's ``EtcdError``; the Txns before it were written.
    public func write(_ changes: [Change], lease: Int64) async throws {
        var start = changes.startIndex
        while start < changes.endIndex {
            let end = min(start + Self.maxOperationsPerTxn, changes.endIndex)
            let operations = changes[start..<end].map { change -> Etcdserverpb_RequestOp in
                switch change {
                case .put(let key, let value):
                    .with {
                        $0.requestPut = .with {
                            $0.key = Data((self.prefix + key).utf8)
                            $0.value = Data(value)
                            $0.lease = lease
                        }
                    }
                case .delete(let key):
                    .with { $0.requestDeleteRange = .with { $0.key = Data((self.prefix + key).utf8) } }
                }
            }
            _ = try await self.kv.txn(.with { $0.success = operations })
            start = end
        }
    }

    /// The whole directory, then every change to it, until the consuming task is cancelled.
    ///
    /// Never fails: an unreachable etcd is tried again (backing off up to
    /// `maxBackoff`), and the follower learns nothing new meanwhile.
    public func follow(logger: Logger, maxBackoff: Duration = .seconds(2)) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .unbounded)
        let task = Task {
            await self.follow(into: continuation, logger: logger, maxBackoff: maxBackoff)
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func follow(into continuation: AsyncStream<Event>.Continuation, logger: Logger, maxBackoff: Duration) async {
        let start = Data(self.prefix.utf8)
        let end = Data(KeyRange.prefixEnd(of: Array(start)))
        /// The revision to watch from next; nil: read the whole directory first.
        var next: Int64?
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                guard let from = next else {
                    let (entries, revision) = try await self.readAll(start: start, end: end)
                    continuation.yield(.snapshot(entries))
                    next = revision + 1
                    backoff = .milliseconds(100)
                    continue
                }
                let responses = self.kv.watch(.with {
                    $0.key = start
                    $0.rangeEnd = end
                    $0.startRevision = from
                    $0.progressNotify = true
                })
                for try await response in responses {
                    for event in response.events {
                        let key = self.relative(event.kv.key)
                        switch event.type {
                        case .put:
                            continuation.yield(.put(Entry(key: key, value: Array(event.kv.value), modRevision: event.kv.modRevision, lease: event.kv.lease)))
                        case .delete:
                            continuation.yield(.deleted(key: key))
                        case .UNRECOGNIZED:
                            break
                        }
                        next = max(next ?? 0, event.kv.modRevision + 1)
                    }
                    backoff = .milliseconds(100)
                }
                if Task.isCancelled { return }
                throw EtcdError(.unavailable, "the watch of \(self.prefix) ended")
            } catch let error as EtcdError {
                if case .compacted = error.code {
                    logger.info("etcd compacted past the directory's watch; reading it whole again", metadata: ["prefix": "\(self.prefix)"])
                    next = nil
                    continue
                }
                logger.debug("following the etcd directory failed; trying again", metadata: ["prefix": "\(self.prefix)", "error": "\(error)"])
            } catch {
                logger.debug("following the etcd directory failed; trying again", metadata: ["prefix": "\(self.prefix)", "error": "\(error)"])
            }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                return
            }
            backoff = min(backoff * 2, maxBackoff)
        }
    }

    /// Every entry, paged, at one etcd revision.
    private func readAll(start: Data, end: Data) async throws -> (entries: [Entry], revision: Int64) {
        var entries: [Entry] = []
        var from = start
        var revision: Int64 = 0
        while true {
            let response = try await self.kv.range(.with {
                $0.key = from
                $0.rangeEnd = end
                $0.limit = Self.pageSize
                $0.revision = revision
            })
            if revision == 0 { revision = response.header.revision }
            entries += response.kvs.map { Entry(key: self.relative($0.key), value: Array($0.value), modRevision: $0.modRevision, lease: $0.lease) }
            guard response.more, let last = response.kvs.last else { return (entries, revision) }
            from = last.key + Data([0])
        }
    }

    private func relative(_ key: Data) -> String {
        String(decoding: key.dropFirst(self.prefix.utf8.count), as: UTF8.self)
    }
}

import EtcdProto
import Foundation
import Logging
import Synchronization

/// Which one server of the cluster does a singleton job (the rollout driver):
/// the one whose id `<prefix>leader/<name>` holds, under its session's lease.
///
/// Campaign: a Txn that puts the server's id only if the key does not exist
/// (`create_revision == 0`); a server that loses watches the key and
/// campaigns again once it is deleted (the leader resigned, or its lease
/// expired with it). Leadership ends when the key is deleted or taken over,
/// or the moment the session says its lease may have expired; ``whileLeading(_:)``
/// then cancels the job. At most one server leads at a time as long as the
/// session's clock does not run slower than etcd's (``LeaseKeeper`` gives up
/// the lease no later than etcd does).
public final class LeaderElection: Sendable {
    public let session: EtcdSession
    /// The election's key: `<prefix>leader/<name>`.
    public let key: String
    private let logger: Logger
    private let retryInterval: Duration
    private let leading = Atomic<Bool>(false)

    /// - Parameters:
    ///   - name: what is led, e.g. `rollouts` (key `<prefix>leader/rollouts`).
    ///   - retryInterval: how long to wait after etcd failed a campaign before the next one.
    public init(session: EtcdSession, name: String, retryInterval: Duration = .seconds(1), logger: Logger) {
        self.session = session
        self.key = "\(session.prefix)leader/\(name)"
        self.retryInterval = retryInterval
        var logger = logger
        logger[metadataKey: "election"] = "\(name)"
        self.logger = logger
    }

    /// Whether this server leads now.
    public var isLeading: Bool { self.leading.load(ordering: .acquiring) }

    /// Campaigns until this server leads, runs `body` while it does, cancels
    /// `body` when leadership is lost and campaigns again; until the calling
    /// task is cancelled, then resigns (deletes the key if it is still ours).
    ///
    /// `body` should run until cancelled; if it returns earlier, leadership is
    /// kept (so no other server takes the job over) until lost or cancelled.
    public func whileLeading(_ body: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled {
            guard let lease = await self.session.currentLease() else { return }
            do {
                switch try await self.campaign(lease: lease) {
                case .won(let createRevision):
                    await self.lead(lease: lease, createRevision: createRevision, body)
                    await self.resign(createRevision: createRevision)
                case .held(let holder, let revision):
                    self.logger.debug("another server leads; waiting for it to go", metadata: ["leader": "\(holder)"])
                    await self.waitForVacancy(after: revision, lease: lease)
                case .vacant:
                    continue
                }
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("leader election failed; campaigning again", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: self.retryInterval)
            }
        }
    }

    enum Campaign: Equatable {
        /// This server leads; the key was created at this etcd revision.
        case won(createRevision: Int64)
        /// `holder` leads, as of etcd revision `revision`.
        case held(holder: String, revision: Int64)
        /// Nobody leads, yet the campaign lost: campaign again.
        case vacant
    }

    /// Puts our id if the key does not exist; otherwise says who holds it.
    func campaign(lease: Int64) async throws -> Campaign {
        let key = Data(self.key.utf8)
        let response = try await self.session.kv.txn(.with {
            $0.compare = [.with {
                $0.key = key
                $0.target = .create
                $0.result = .equal
                $0.createRevision = 0
            }]
            $0.success = [.with {
                $0.requestPut = .with {
                    $0.key = key
                    $0.value = Data(self.session.serverID.utf8)
                    $0.lease = lease
                }
            }]
            $0.failure = [.with { $0.requestRange = .with { $0.key = key } }]
        })
        if response.succeeded { return .won(createRevision: response.header.revision) }
        guard case .responseRange(let range)? = response.responses.first?.response, let holder = range.kvs.first else {
            // The compare and the read are one Txn, so this does not happen; were it to, look again.
            return .vacant
        }
        // Ours already (a campaign whose answer was lost, under this very lease): lead.
        if holder.lease == lease && String(decoding: holder.value, as: UTF8.self) == self.session.serverID {
            return .won(createRevision: holder.createRevision)
        }
        return .held(holder: String(decoding: holder.value, as: UTF8.self), revision: response.header.revision)
    }

    /// Runs `body` until leadership is lost or the calling task is cancelled.
    private func lead(lease: Int64, createRevision: Int64, _ body: @escaping @Sendable () async -> Void) async {
        self.leading.store(true, ordering: .releasing)
        self.logger.info("this server leads", metadata: ["server_id": "\(self.session.serverID)"])
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                // Keep the leadership (and so the job) until it is lost.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
                return false
            }
            group.addTask {
                await self.waitForLoss(lease: lease, createRevision: createRevision)
                return true
            }
            _ = await group.next()
            group.cancelAll()
        }
        self.leading.store(false, ordering: .releasing)
        self.logger.info(Task.isCancelled ? "this server stops leading: shutting down" : "this server lost the leadership")
    }

    /// Returns when the session's lease changes or may have expired, or the key is no longer ours.
    private func waitForLoss(lease: Int64, createRevision: Int64) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await current in self.session.leases() where current != lease { return }
            }
            group.addTask {
                await self.watchKey(from: createRevision + 1) { event in
                    event.type == .delete || event.kv.createRevision != createRevision
                }
            }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Waits until the key is deleted (after etcd revision `revision`), or our session's lease changes.
    private func waitForVacancy(after revision: Int64, lease: Int64) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await current in self.session.leases() where current != lease { return }
            }
            group.addTask {
                await self.watchKey(from: revision + 1) { $0.type == .delete }
            }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Watches the key from `revision` until an event satisfies `until`,
    /// resuming a broken watch; a compacted one (or a lasting failure) ends
    /// the wait, and the caller looks again by campaigning.
    private func watchKey(from revision: Int64, until: @Sendable (Mvccpb_Event) -> Bool) async {
        var next = revision
        while !Task.isCancelled {
            do {
                let responses = self.session.kv.watch(.with {
                    $0.key = Data(self.key.utf8)
                    $0.startRevision = next
                    $0.progressNotify = true
                })
                for try await response in responses {
                    for event in response.events {
                        if until(event) { return }
                        next = max(next, event.kv.modRevision + 1)
                    }
                }
                if Task.isCancelled { return }
            } catch let error as EtcdError {
                if case .compacted = error.code { return }
                self.logger.debug("watching the leader key failed; watching again", metadata: ["error": "\(error)"])
            } catch {
                self.logger.debug("watching the leader key failed; watching again", metadata: ["error": "\(error)"])
            }
            do {
                try await Task.sleep(for: self.retryInterval)
            } catch {
                return
            }
        }
    }

    /// Deletes the key if it is still the one this server created: the next leader need not wait out a TTL.
    private func resign(createRevision: Int64) async {
        // In a task of its own: resigning is what a cancelled (shutting down) caller does last.
        await Task { await self.deleteKey(createRevision: createRevision) }.value
    }

    private func deleteKey(createRevision: Int64) async {
        let key = Data(self.key.utf8)
        do {
            _ = try await self.session.kv.txn(.with {
                $0.compare = [.with {
                    $0.key = key
                    $0.target = .create
                    $0.result = .equal
                    $0.createRevision = createRevision
                }]
                $0.success = [.with { $0.requestDeleteRange = .with { $0.key = key } }]
            })
        } catch {
            self.logger.warning("resigning the leadership failed; it ends when the lease expires", metadata: ["error": "\(error)"])
        }
    }
}

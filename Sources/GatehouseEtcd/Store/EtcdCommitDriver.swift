import EtcdProto
import Foundation
import GatehouseStore
import Logging

/// The serial heart of ``EtcdGateStore``: stages and commits groups, applies
/// the watch, and runs every completion and observer call, one at a time.
///
/// Only ``run(_:)`` enters it, so although it awaits etcd, nothing
/// interleaves: watch responses that arrive during a commit wait in the event
/// stream, and a commit that lost a race pulls them from there itself.
actor EtcdCommitDriver<State: Sendable> {
    typealias Events = AsyncStream<DriverEvent>.AsyncIterator

    /// How a commit transaction ended.
    private enum Attempt {
        /// Applied at this etcd revision.
        case committed(etcdRevision: Int64)
        /// Not applied: `<p>rev` is at this mod revision; catch up to it and stage again.
        case behind(modRevision: Int64)
        /// Not applied, or unknown and unknowable now: answer the callers with this.
        case failed(any Error)
    }

    private let kv: any EtcdKV
    private let keys: EtcdStoreKeys
    private let name: String
    private let configuration: EtcdStoreConfiguration
    private let logger: Logger
    private let shared: EtcdStoreShared<State>
    private let reader: EtcdStoreReader
    private let initialState: @Sendable (LoadedRecords) throws -> State
    private let advance: @Sendable (State, AuditRecord) throws -> State

    /// The state as of the last commit applied, own or foreign.
    private var committed: StoreSnapshot<State>
    /// The etcd mod revision of `<p>rev` that `committed` reflects (0: no key yet).
    private var stampModRevision: Int64
    /// The etcd revision the watch has delivered everything up to.
    private var watchedThrough: Int64
    private var watchGeneration = 0
    private var watchTask: Task<Void, Never>?
    /// The timer that reopens a broken watch, if one is pending.
    private var watchRetryTimer: Int?
    /// Watches broken in a row since the last response: the retry backs off, and only the first is a warning.
    private var watchFailures = 0
    private var timers = 0
    private var closing = false
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []

    init(
        kv: any EtcdKV, keys: EtcdStoreKeys, name: String, configuration: EtcdStoreConfiguration, logger: Logger,
        shared: EtcdStoreShared<State>, reader: EtcdStoreReader,
        initialState: @escaping @Sendable (LoadedRecords) throws -> State,
        advance: @escaping @Sendable (State, AuditRecord) throws -> State,
        loaded: EtcdStoreReader.Loaded, snapshot: StoreSnapshot<State>
    ) {
        self.kv = kv
        self.keys = keys
        self.name = name
        self.configuration = configuration
        self.logger = logger
        self.shared = shared
        self.reader = reader
        self.initialState = initialState
        self.advance = advance
        self.committed = snapshot
        self.stampModRevision = loaded.stampModRevision
        self.watchedThrough = loaded.etcdRevision
    }

    /// Runs until the store is closed and what was submitted before is answered.
    func run(_ stream: AsyncStream<DriverEvent>) async {
        var events = stream.makeAsyncIterator()
        self.startWatch()
        while !self.closing, let event = await events.next(isolation: self) {
            await self.handle(event, &events)
            await self.commitPending(&events)
        }
        // Closing: what was queued before close() is committed (or failed) first.
        await self.commitPending(&events)
        self.watchTask?.cancel()
        self.shared.events.finish()
        self.closeWaiters.forEach { $0.resume() }
        self.closeWaiters = []
        while let event = await events.next(isolation: self) {
            if case .close(let waiter) = event { waiter.resume() }
        }
        self.logger.info("store closed", metadata: ["store": "\(self.name)", "revision": "\(self.committed.revision)"])
    }

    // MARK: - Events

    private func handle(_ event: DriverEvent, _ events: inout Events) async {
        switch event {
        case .submitted:
            break
        case .watched(let response, let generation):
            guard generation == self.watchGeneration else { return }
            await self.apply(response)
        case .watchEnded(let error, let generation):
            guard generation == self.watchGeneration else { return }
            await self.watchEnded(error)
        case .timer(let id):
            if id == self.watchRetryTimer {
                self.watchRetryTimer = nil
                self.startWatch()
            }
        case .close(let waiter):
            self.closing = true
            self.closeWaiters.append(waiter)
        }
    }

    private func scheduleTimer(after delay: Duration) -> Int {
        self.timers += 1
        let id = self.timers
        let events = self.shared.events
        Task {
            try? await Task.sleep(for: delay)
            events.yield(.timer(id))
        }
        return id
    }

    // MARK: - Watch

    /// Watches the store's keys from the revision after the last one seen.
    private func startWatch() {
        self.watchTask?.cancel()
        self.watchGeneration += 1
        let generation = self.watchGeneration
        var request = Etcdserverpb_WatchCreateRequest()
        (request.key, request.rangeEnd) = self.keys.watchRange
        request.startRevision = self.watchedThrough + 1
        request.progressNotify = true
        let kv = self.kv
        let events = self.shared.events
        self.watchTask = Task {
            do {
                for try await response in kv.watch(request) {
                    events.yield(.watched(response, generation: generation))
                }
                events.yield(.watchEnded(nil, generation: generation))
            } catch {
                events.yield(.watchEnded(error, generation: generation))
            }
        }
    }

    private func watchEnded(_ error: (any Error)?) async {
        if let error = error as? EtcdError, case .compacted = error.code {
            // The revisions after the last one seen are gone from etcd's history: read where the store is now.
            self.logger.warning("store watch compacted; catching up from etcd", metadata: ["store": "\(self.name)", "error": "\(error)"])
            if let through = await self.catchUpByReading() {
                self.watchedThrough = max(self.watchedThrough, through)
                self.startWatch()
                return
            }
        } else if !self.closing {
            self.logger.log(
                level: self.watchFailures == 0 ? .warning : .debug,
                "store watch broke; watching again",
                metadata: ["store": "\(self.name)", "error": "\(error.map { "\($0)" } ?? "ended")", "from": "\(self.watchedThrough + 1)"]
            )
        }
        if self.watchRetryTimer == nil && !self.closing {
            // 250 ms, 500 ms, 1 s, … up to 16 times the delay while etcd stays away.
            let delay = self.configuration.watchRetryDelay * (1 << min(self.watchFailures, 4))
            self.watchFailures += 1
            self.watchRetryTimer = self.scheduleTimer(after: delay)
        }
    }

    /// Moves the state forward by the commits in a watch response.
    private func apply(_ response: Etcdserverpb_WatchResponse) async {
        self.watchFailures = 0
        self.watchedThrough = max(self.watchedThrough, ForeignCommits.seenThrough(response))
        let commits: [SeenCommit]
        do {
            commits = try ForeignCommits.commits(in: response.events, keys: self.keys)
        } catch {
            self.logger.error("store watch brought an unreadable commit", metadata: ["store": "\(self.name)", "error": "\(error)"])
            await self.reload(because: "\(error)")
            return
        }
        for commit in commits where commit.etcdRevision > self.stampModRevision {
            if commit.follows(self.committed.revision) {
                await self.replay(commit)
            } else {
                // A gap (the watch missed a revision) or a commit out of line: read what etcd holds.
                _ = await self.catchUpByReading()
            }
        }
    }

    /// Replays a foreign commit's batches, publishes the new snapshot, then tells the observer.
    private func replay(_ commit: SeenCommit) async {
        var state = self.committed.state
        do {
            for audit in commit.audits {
                state = try self.advance(state, audit.record)
            }
        } catch {
            self.logger.error(
                "store cannot replay a commit of another server; reloading",
                metadata: ["store": "\(self.name)", "revision": "\(commit.stamp.revision)", "error": "\(error)"]
            )
            await self.reload(because: "\(error)")
            return
        }
        self.committed = StoreSnapshot(revision: commit.stamp.revision, state: state)
        self.stampModRevision = commit.etcdRevision
        let snapshot = self.committed
        self.shared.published.withLock { $0 = snapshot }
        self.shared.statistics.withLock { $0.foreignBatches += commit.audits.count }
        guard let observer = self.shared.observer.withLock({ $0 }) else { return }
        for (index, audit) in commit.audits.enumerated() {
            let endsGroup = index == commit.audits.count - 1 || commit.audits[index + 1].commitID != audit.commitID
            observer(audit.record, endsGroup)
        }
    }

    /// Reads `<p>rev` and the audit keys since the snapshot and replays them;
    /// reloads everything if they are gone. Returns the etcd revision the
    /// state is then current at, or nil if etcd could not be read.
    private func catchUpByReading() async -> Int64? {
        do {
            let read = try await self.reader.readStamp()
            guard read.modRevision != self.stampModRevision else { return read.etcdRevision }
            if let stamp = read.stamp, stamp.revision > self.committed.revision {
                let audits = try await self.reader.audits(self.committed.revision.next...stamp.revision)
                let commit = SeenCommit(etcdRevision: read.modRevision, stamp: stamp, audits: audits)
                if commit.follows(self.committed.revision) {
                    await self.replay(commit)
                    return max(read.etcdRevision, self.watchedThrough)
                }
                return await self.reload(
                    because: "etcd no longer holds the audit entries from \(self.committed.revision.next) to \(stamp.revision) (audit retention)"
                )
            }
            return await self.reload(
                because: "\(self.keys.prefix)rev went back from \(self.committed.revision) to \(read.stamp?.revision ?? .zero)"
            )
        } catch {
            self.logger.warning("store cannot catch up with etcd", metadata: ["store": "\(self.name)", "error": "\(error)"])
            return nil
        }
    }

    /// Rebuilds the state from a full read and watches again from there.
    ///
    /// Subscribers are not told the batches in between (there is no summary
    /// of them): this only happens when the audit trail they would come from
    /// is gone, so it is logged as an error.
    @discardableResult
    private func reload(because reason: String) async -> Int64? {
        do {
            let loaded = try await self.reader.load()
            let state = try self.initialState(loaded.records)
            self.committed = StoreSnapshot(revision: loaded.records.revision, state: state)
            self.stampModRevision = loaded.stampModRevision
            self.watchedThrough = loaded.etcdRevision
            let snapshot = self.committed
            self.shared.published.withLock { $0 = snapshot }
            self.shared.statistics.withLock { $0.reloads += 1 }
            self.logger.error(
                "store reloaded its state from etcd; subscribers may have missed batches",
                metadata: ["store": "\(self.name)", "reason": "\(reason)", "revision": "\(loaded.records.revision)"]
            )
            self.startWatch()
            return loaded.etcdRevision
        } catch {
            self.logger.error("store cannot reload from etcd", metadata: ["store": "\(self.name)", "reason": "\(reason)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: - Commits

    /// Commits everything queued, group after group.
    private func commitPending(_ events: inout Events) async {
        while true {
            let submissions = self.shared.take(self.configuration.maximumGroupSize)
            if submissions.isEmpty { return }
            let leftover = await self.commit(submissions, &events)
            if !leftover.isEmpty { self.shared.putBack(leftover) }
        }
    }

    /// Commits one group, staging it again as often as it loses a race;
    /// returns the submissions that did not fit in it.
    private func commit(_ submissions: [Submission<State>], _ events: inout Events) async -> [Submission<State>] {
        var submissions = submissions
        var restages = 0
        while true {
            var plan = CommitPlan(
                base: self.committed, baseModRevision: self.stampModRevision, keys: self.keys,
                limits: self.configuration, storeName: self.name
            )
            var leftover: [Submission<State>] = []
            for (index, submission) in submissions.enumerated() where plan.stage(submission) == .full {
                leftover = Array(submissions[index...])
                break
            }
            guard plan.batches > 0 else {
                // Nothing to write: the state the transforms saw is already in etcd.
                plan.finish(nil)
                return leftover
            }
            switch await self.attempt(plan) {
            case .committed(let etcdRevision):
                self.committed = plan.snapshot
                self.stampModRevision = etcdRevision
                let snapshot = self.committed
                self.shared.published.withLock { $0 = snapshot }
                self.shared.statistics.withLock {
                    $0.transactionsCommitted += 1
                    $0.batchesCommitted += plan.batches
                    $0.largestGroup = max($0.largestGroup, plan.batches)
                }
                plan.finish(nil)
                return leftover
            case .behind(let modRevision):
                restages += 1
                self.shared.statistics.withLock { $0.conflicts += 1 }
                guard restages <= self.configuration.maximumRestages else {
                    plan.finish(
                        StoreError.unreachable(
                            cause: "the change lost \(restages) races in a row to other servers' commits; retry",
                            path: self.name
                        )
                    )
                    return leftover
                }
                await self.catchUp(to: modRevision, &events)
                submissions = plan.accepted + leftover
            case .failed(let error):
                self.logger.error(
                    "store commit failed; nothing of it is visible",
                    metadata: ["store": "\(self.name)", "batches": "\(plan.batches)", "error": "\(error)"]
                )
                plan.finish(error)
                return leftover
            }
        }
    }

    /// Sends the group's transaction and says what became of it.
    private func attempt(_ plan: CommitPlan<State>) async -> Attempt {
        do {
            let response = try await self.kv.txn(plan.transaction)
            if response.succeeded {
                return .committed(etcdRevision: response.header.revision)
            }
            return .behind(modRevision: response.responses.first?.responseRange.kvs.first?.modRevision ?? 0)
        } catch let error as EtcdError {
            let doing = "committing \(plan.base.revision.next)…\(plan.snapshot.revision)"
            guard error.mayHaveApplied else {
                return .failed(StoreError.etcd(error, doing: doing, store: self.name))
            }
            return await self.resolve(plan, lost: error, doing: doing)
        } catch {
            return .failed(error)
        }
    }

    /// Finds out whether a transaction whose answer was lost was applied, by its commit id.
    private func resolve(_ plan: CommitPlan<State>, lost: EtcdError, doing: String) async -> Attempt {
        self.shared.statistics.withLock { $0.ambiguousCommits += 1 }
        let deadline = ContinuousClock.now + self.configuration.ambiguityTimeout
        let first = plan.base.revision.next
        while true {
            do {
                let read = try await self.reader.readStamp()
                if read.stamp?.commitID == plan.commitID {
                    return .committed(etcdRevision: read.modRevision)
                }
                if let stamp = read.stamp, stamp.revision >= first,
                    let own = try await self.reader.audit(first), own.decoded.commitID == plan.commitID
                {
                    // Applied, and other servers committed on top of it since.
                    return .committed(etcdRevision: own.modRevision)
                }
                return .behind(modRevision: read.modRevision)
            } catch {
                guard ContinuousClock.now < deadline else {
                    return .failed(StoreError.etcd(lost, doing: doing, store: self.name, unsettled: true))
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Waits (boundedly) for the watch to apply `<p>rev` at `modRevision`,
    /// then reads what is still missing.
    private func catchUp(to modRevision: Int64, _ events: inout Events) async {
        if modRevision > self.stampModRevision {
            let timer = self.scheduleTimer(after: self.configuration.conflictWait)
            while modRevision > self.stampModRevision, let event = await events.next(isolation: self) {
                if case .timer(timer) = event { break }
                await self.handle(event, &events)
            }
        }
        if modRevision > self.stampModRevision || modRevision == 0 {
            _ = await self.catchUpByReading()
        }
    }
}

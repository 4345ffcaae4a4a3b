import EtcdProto
import Foundation
import GatehouseStore
import SwiftProtobuf

/// One group on its way to etcd: the transforms run so far on top of the
/// snapshot it was staged on, and the transaction that commits them.
///
/// A value that does no I/O (its only side effect is answering the callers
/// it refuses), so a lost race is undone by dropping it and staging its
/// submissions again on the newer state. It keeps the transaction within
/// etcd's limits as it grows: a batch that would push it over
/// `--max-txn-ops` or `--max-request-bytes` is left for the next group, and
/// one that could never fit is refused by name.
struct CommitPlan<State: Sendable> {
    typealias Waiter = GroupWaiter

    /// What staging one submission did.
    enum Outcome {
        /// Its transform threw, or its batch can never fit one transaction; its caller was answered.
        case refused
        /// It joined the group.
        case accepted
        /// Its batch does not fit beside the others: stage it in the next group.
        case full
    }

    let keys: EtcdStoreKeys
    let limits: EtcdStoreConfiguration
    /// Names this group in `<p>rev` and in its audit values.
    let commitID: UUID
    /// The snapshot it was staged on and the etcd mod revision of `<p>rev` there (0: no key yet).
    let base: StoreSnapshot<State>
    let baseModRevision: Int64
    /// Names the store in errors.
    let storeName: String

    private(set) var state: State
    private(set) var revision: Revision
    private(set) var waiters: [Waiter] = []
    /// The submissions that joined, in order: staged again if the group loses a race.
    private(set) var accepted: [Submission<State>] = []
    /// The audit records of the group's batches, in revision order.
    private(set) var audits: [AuditRecord] = []
    /// One operation per record key, the last write of the group winning (etcd refuses a key twice in one Txn).
    private var records: [Data: Etcdserverpb_RequestOp] = [:]
    private var recordOrder: [Data] = []
    private var recordBytes = 0
    private var auditOps: [Etcdserverpb_RequestOp] = []
    private var auditBytes = 0

    init(base: StoreSnapshot<State>, baseModRevision: Int64, keys: EtcdStoreKeys, limits: EtcdStoreConfiguration, storeName: String, commitID: UUID = UUID()) {
        self.base = base
        self.baseModRevision = baseModRevision
        self.keys = keys
        self.limits = limits
        self.storeName = storeName
        self.commitID = commitID
        self.state = base.state
        self.revision = base.revision
    }

    /// The number of batches (gate revisions) in the group.
    var batches: Int { self.audits.count }

    /// The snapshot to publish once the transaction succeeded.
    var snapshot: StoreSnapshot<State> {
        StoreSnapshot(revision: self.revision, state: self.state)
    }

    /// Runs `submission` against the working state; an accepted change becomes the next batch if it fits.
    mutating func stage(_ submission: Submission<State>) -> Outcome {
        switch submission.stage(self.state, self.revision.next) {
        case .refused(let answer):
            answer()
            return .refused
        case .accepted(nil, let complete):
            self.waiters.append(Waiter(complete: complete, revision: self.revision))
            self.accepted.append(submission)
            return .accepted
        case .accepted(let change?, let complete):
            let revision = self.revision.next
            let audit = AuditRecord(revision: revision, entry: change.audit)
            var records = self.records
            var order = self.recordOrder
            var recordBytes = self.recordBytes
            for record in change.records {
                let key = self.keys.record(kind: record.kind, key: record.key)
                let op = Self.operation(for: record, key: key)
                if let old = records[key] {
                    recordBytes -= Self.size(old)
                } else {
                    order.append(key)
                }
                records[key] = op
                recordBytes += Self.size(op)
            }
            var auditOp = Etcdserverpb_RequestOp()
            auditOp.requestPut.key = self.keys.audit(revision)
            auditOp.requestPut.value = AuditCodec.encode(audit, commitID: self.commitID)
            let operations = 2 + records.count + self.auditOps.count + 1
            let bytes = Self.overhead + recordBytes + self.auditBytes + Self.size(auditOp)
            if operations > self.limits.maximumTransactionOperations || bytes > self.limits.maximumRequestBytes {
                guard self.audits.isEmpty else { return .full }
                complete(.failure(self.tooLarge(operations: operations, bytes: bytes)), true)
                return .refused
            }
            self.records = records
            self.recordOrder = order
            self.recordBytes = recordBytes
            self.auditOps.append(auditOp)
            self.auditBytes += Self.size(auditOp)
            self.audits.append(audit)
            self.revision = revision
            self.state = change.state
            self.waiters.append(Waiter(complete: complete, revision: revision))
            self.accepted.append(submission)
            return .accepted
        }
    }

    /// The commit transaction: if `<p>rev` is still where the group was
    /// staged, write it, the records, the audit keys and trim the audit trail;
    /// otherwise read `<p>rev` to learn how far behind the group is.
    var transaction: Etcdserverpb_TxnRequest {
        var compare = Etcdserverpb_Compare()
        compare.key = self.keys.revision
        compare.result = .equal
        if self.baseModRevision == 0 {
            compare.target = .create
            compare.createRevision = 0
        } else {
            compare.target = .mod
            compare.modRevision = self.baseModRevision
        }
        var request = Etcdserverpb_TxnRequest()
        request.compare = [compare]
        var stamp = Etcdserverpb_RequestOp()
        stamp.requestPut.key = self.keys.revision
        stamp.requestPut.value = RevisionStamp(revision: self.revision, commitID: self.commitID).encoded
        request.success = [stamp] + self.recordOrder.map { self.records[$0]! } + self.auditOps
        if let trim = self.trim {
            request.success.append(trim)
        }
        var read = Etcdserverpb_RequestOp()
        read.requestRange.key = self.keys.revision
        request.failure = [read]
        return request
    }

    /// Deletes the audit keys older than the newest `auditRetention` revisions, nil while there are none.
    private var trim: Etcdserverpb_RequestOp? {
        guard self.revision.rawValue > self.limits.auditRetention else { return nil }
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange.key = self.keys.auditPrefix
        op.requestDeleteRange.rangeEnd = self.keys.audit(Revision(self.revision.rawValue - self.limits.auditRetention + 1))
        return op
    }

    /// Resumes every waiting caller with its revision (success) or with `error`, in order;
    /// the last is told it ends the group.
    func finish(_ error: (any Error)?) {
        self.waiters.finishAll(error)
    }

    private func tooLarge(operations: Int, bytes: Int) -> StoreError {
        if operations > self.limits.maximumTransactionOperations {
            return .invalidRecord(
                reason: "one change needs \(operations) etcd operations in its transaction, above etcd's limit of \(self.limits.maximumTransactionOperations); split the change, or raise etcd's --max-txn-ops and Gatehouse's limit with it",
                path: self.storeName
            )
        }
        return .invalidRecord(
            reason: "one change needs a \(bytes)-byte etcd transaction, above etcd's limit of \(self.limits.maximumRequestBytes) bytes; split the change, or raise etcd's --max-request-bytes and Gatehouse's limit with it",
            path: self.storeName
        )
    }

    private static func operation(for record: StoreRecord, key: Data) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        if let value = record.value {
            op.requestPut.key = key
            op.requestPut.value = Data(value)
        } else {
            op.requestDeleteRange.key = key
        }
        return op
    }

    /// Room for the compare, the revision put, the failure read, the trim and the framing.
    private static var overhead: Int { 1024 }

    /// The bytes one operation adds to the transaction: its encoding and its field header.
    private static func size(_ op: Etcdserverpb_RequestOp) -> Int {
        let length = (try? op.serializedBytes() as [UInt8])?.count ?? 0
        return length + 6
    }
}

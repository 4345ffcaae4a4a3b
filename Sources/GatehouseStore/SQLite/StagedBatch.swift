/// One accepted submission, ready to be written: its revision, records and audit entry.
package struct StagedBatch: Sendable {
    package var revision: Revision
    package var records: [StoreRecord]
    package var audit: AuditEntry

    package init(revision: Revision, records: [StoreRecord], audit: AuditEntry) {
        self.revision = revision
        self.records = records
        self.audit = audit
    }
}

import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseStore

/// `Features/History`: the audit trail, paged by revision.
///
/// The audit log only grows, so a page token needs no kept state: it names
/// the last revision sent, and the next page starts past it. A page holds at
/// most `limit` entries and no more than fit the caller's frame; an entry
/// too large for any frame on its own (a catalog import's before and after)
/// is sent without its JSON, marked `truncated`.
extension GateService {
    /// Entries per page when the request's `limit` is 0.
    static let historyDefaultPageSize = 100
    /// The most entries a history page holds.
    static let historyMaximumPageSize = 1_000
    /// Records read from the store at a time while a page fills: a few
    /// large entries must not all be loaded to make one page.
    static let historyReadChunk = 32

    func history(_ request: Gatehouse_V1_HistoryRequest, context: RPCServerContext) async throws -> Gatehouse_V1_HistoryResponse {
        let scope = self.readScope(context)
        let component = try scope.filter(request.component)
        var filters = request
        filters.limit = 0
        filters.pageToken = ""
        let token = try Self.token(request.pageToken, method: "Features/History", filters: filters)

        var subjects: [String] = []
        if !request.feature.isEmpty { subjects.append("feature:\(request.feature)") }
        if let component { subjects.append("component:\(component)") }
        if request.hasApi {
            let selector = try GateService.mapping { try APISelector(wire: request.api, field: "api") }
            subjects.append("api:\(selector)")
        }
        var lower: UInt64 = request.afterRevisionPresent.map { switch $0 { case .afterRevision(let value): value &+ 1 } } ?? 1
        var upper: UInt64 = request.beforeRevisionPresent.map { switch $0 { case .beforeRevision(let value): value == 0 ? 0 : value - 1 } } ?? UInt64.max
        if let token {
            guard let last = UInt64(token.after) else { throw PageTokenError.malformed("its revision is not a number").rpcError }
            if request.newestFirst {
                upper = min(upper, last == 0 ? 0 : last - 1)
            } else {
                lower = max(lower, last &+ 1)
            }
        }
        let revision = self.state.revision.rawValue
        let pager = Pager(
            requested: request.limit,
            defaultSize: Self.historyDefaultPageSize,
            maximumSize: Self.historyMaximumPageSize,
            frame: context.peerMaxFrameSize
        )

        var entries: [Gatehouse_V1_AuditEntry] = []
        var used = 0
        var more = false
        reading: while entries.count < pager.size, lower > 0, lower <= upper {
            let chunk = min(pager.size - entries.count, Self.historyReadChunk)
            var query = AuditQuery(
                subject: subjects.first,
                actor: request.actor.isEmpty ? nil : request.actor,
                revisions: Revision(lower)...Revision(upper),
                limit: chunk + 1
            )
            query.alsoSubjects = Array(subjects.dropFirst())
            query.oldestFirst = !request.newestFirst
            let records: [AuditRecord]
            do {
                records = try await self.store.history(query)
            } catch let error as StoreError {
                guard case .unreachable = error else { throw error }
                // A cluster store reads history from etcd: when it does not answer, say so, as writes do.
                throw RPCError(.unavailable, "the history could not be read: \(error)")
            }
            for record in records.prefix(chunk) {
                var entry = Self.wire(scope.component == nil ? record : Self.redacted(record, for: scope))
                var cost = Pager.cost(of: entry)
                if cost > pager.budget {
                    guard entries.isEmpty else {
                        more = true
                        break reading
                    }
                    entry = Self.fitting(entry, budget: pager.budget)
                    cost = Pager.cost(of: entry)
                } else if used + cost > pager.budget {
                    more = true
                    break reading
                }
                entries.append(entry)
                used += cost
                if request.newestFirst { upper = record.revision.rawValue - 1 } else { lower = record.revision.rawValue &+ 1 }
            }
            guard records.count > chunk else { break }
            if entries.count == pager.size { more = true }
        }
        let filterDigest = Self.digest(filters)
        return .with {
            $0.entries = entries
            $0.more = more
            $0.revision = revision
            if more, let last = entries.last {
                $0.nextPageToken = PageToken(method: "Features/History", revision: revision, filter: filterDigest, after: "\(last.revision)").text
            }
        }
    }

    /// An entry cut down to fit `budget` octets: no before/after JSON, then
    /// fewer change and subject lines (the last saying how many more), then a shorter reason.
    static func fitting(_ entry: Gatehouse_V1_AuditEntry, budget: Int) -> Gatehouse_V1_AuditEntry {
        var fitted = entry
        fitted.truncated = true
        fitted.beforeJson = ""
        fitted.afterJson = ""
        var keep = max(entry.changes.count, entry.subjects.count)
        while Pager.cost(of: fitted) > budget, keep > 0 {
            keep /= 2
            fitted.changes = Self.cut(entry.changes, keeping: keep)
            fitted.subjects = Self.cut(entry.subjects, keeping: keep)
        }
        if Pager.cost(of: fitted) > budget {
            fitted.reason = String(entry.reason.prefix(1_024)) + "…"
        }
        return fitted
    }

    private static func cut(_ lines: [String], keeping count: Int) -> [String] {
        lines.count <= count ? lines : Array(lines.prefix(count)) + ["… \(lines.count - count) more"]
    }

    /// A record as a component may see it: other components' overrides and
    /// builds taken out of its before/after JSON and its subjects.
    static func redacted(_ record: AuditRecord, for scope: ReadScope) -> AuditRecord {
        func filter(_ json: [UInt8]) -> [UInt8] {
            guard !json.isEmpty, let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return json }
            let kept = object.filter { scope.mayRead(auditKey: Substring($0.key)) }
            guard kept.count != object.count else { return json }
            return (try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys, .withoutEscapingSlashes])).map { [UInt8]($0) } ?? []
        }
        var redacted = record
        redacted.entry.before = filter(record.entry.before)
        redacted.entry.after = filter(record.entry.after)
        redacted.entry.subjects = record.entry.subjects.filter(scope.mayRead(subject:))
        return redacted
    }
}

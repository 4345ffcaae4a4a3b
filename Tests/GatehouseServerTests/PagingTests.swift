import Foundation
import GatehouseCore
import GatehouseProto
import Testing

@testable import GatehouseServer

/// Page tokens and the pager, without a server.
@Suite struct PagingTests {
    static let token = PageToken(method: "Features/List", revision: 42, filter: 0xdead_beef, after: "InPlacePodVerticalScaling")

    @Test func aTokenReadsBackAsWritten() throws {
        let text = Self.token.text
        #expect(!text.contains("+") && !text.contains("/") && !text.contains("="), "base64url without padding: \(text)")
        #expect(try PageToken.decode(text, method: "Features/List", filter: 0xdead_beef) == Self.token)
        #expect(try PageToken.decode("", method: "Features/List", filter: 0xdead_beef) == nil, "an empty token is the first page")
        let unicode = PageToken(method: "Components/List", revision: .max, filter: 0, after: "kubelet\u{0}nœud-17")
        #expect(try PageToken.decode(unicode.text, method: "Components/List", filter: 0) == unicode)
    }

    /// Every single-character change of a token is refused, never read as another position.
    @Test func everyEditedCharacterIsRefused() {
        let text = Array(Self.token.text)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var refused = 0
        for index in text.indices {
            var edited = text
            edited[index] = alphabet[(alphabet.firstIndex(of: text[index])! + 1) % alphabet.count]
            do {
                _ = try PageToken.decode(String(edited), method: "Features/List", filter: 0xdead_beef)
                Issue.record("an edit at \(index) was accepted")
            } catch {
                refused += 1
            }
        }
        #expect(refused == text.count)
    }

    @Test(arguments: ["!!!!", "AAAA", String(repeating: "A", count: 5_000), "Zm9v", String(PagingTests.token.text.dropLast(3))])
    func garbageIsRefused(_ text: String) {
        #expect(throws: PageTokenError.self) { try PageToken.decode(text, method: "Features/List", filter: 0xdead_beef) }
    }

    @Test func aTokenOfAnotherMethodOrFilterIsRefused() {
        #expect(throws: PageTokenError.otherMethod("Features/List")) {
            try PageToken.decode(Self.token.text, method: "Components/List", filter: 0xdead_beef)
        }
        #expect(throws: PageTokenError.otherFilters) {
            try PageToken.decode(Self.token.text, method: "Features/List", filter: 1)
        }
    }

    @Test func aRefusalIsInvalidArgumentWithItsReason() throws {
        let error = PageTokenError.malformed("too short").rpcError
        #expect(error.code == .invalidArgument)
        let details = try Gatehouse_V1_ErrorDetails(serializedBytes: error.status.details)
        #expect(details.reason == "INVALID_PAGE_TOKEN")
        #expect(details.fieldViolations.first?.field == "page_token")
    }

    static func entry(_ name: String, padding: Int = 0) -> Gatehouse_V1_Feature {
        .with {
            $0.name = name
            $0.description_p = String(repeating: "x", count: padding)
        }
    }

    @Test func pagesFollowEachOtherWithoutGapsOrRepeats() throws {
        let names = (0..<1_234).map { String(format: "F%05d", $0) }
        let pager = Pager(requested: 100, frame: 1_048_576)
        var seen: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let page = try pager.page(names, key: { $0 }, after: after) { Self.entry($0) }
            #expect(page.entries.count <= 100)
            seen += page.entries.map(\.name)
            after = page.next
            pages += 1
        } while after != nil
        #expect(seen == names)
        #expect(pages == 13)
    }

    @Test func aPageStopsAtTheFrameItMustFit() throws {
        let names = (0..<100).map { String(format: "F%03d", $0) }
        let pager = Pager(requested: 0, frame: 16_384)
        #expect(pager.size == Pager.defaultSize)
        let page = try pager.page(names, key: { $0 }, after: nil) { Self.entry($0, padding: 1_000) }
        let response = Gatehouse_V1_ListFeaturesResponse.with {
            $0.features = page.entries
            $0.nextPageToken = PageToken(method: "Features/List", revision: 1, filter: 1, after: page.next ?? "").text
        }
        let size = try response.serializedBytes() as [UInt8]
        #expect(size.count <= 16_384, "the page fits the caller's frame")
        #expect(page.entries.count == pager.budget / Pager.cost(of: Self.entry("F000", padding: 1_000)))
        #expect(page.next == page.entries.last?.name)
    }

    @Test func anEntryLargerThanTheBudgetStillMakesProgress() throws {
        let page = try Pager(requested: 10, frame: 16_384).page(["A", "B"], key: { $0 }, after: nil) { Self.entry($0, padding: 20_000) }
        #expect(page.entries.map(\.name) == ["A"])
        #expect(page.next == "A")
    }

    @Test func aPageResumesAfterAKeyThatIsGone() throws {
        let pager = Pager(requested: 2, frame: 1_048_576)
        let page = try pager.page(["A", "C", "D", "E"], key: { $0 }, after: "B") { Self.entry($0) }
        #expect(page.entries.map(\.name) == ["C", "D"])
        #expect(page.next == "D")
        let last = try pager.page(["A", "C", "D", "E"], key: { $0 }, after: "D") { Self.entry($0) }
        #expect(last.entries.map(\.name) == ["E"])
        #expect(last.next == nil)
    }

    @Test func thePageSizeIsCapped() {
        #expect(Pager(requested: 1_000_000, frame: 1_048_576).size == Pager.maximumSize)
        #expect(Pager(requested: 7, frame: 1_048_576).size == 7)
    }

    @Test func anOversizedAuditEntryIsCutToFit() throws {
        let entry = Gatehouse_V1_AuditEntry.with {
            $0.revision = 9
            $0.beforeJson = String(repeating: "{}", count: 100_000)
            $0.afterJson = String(repeating: "{}", count: 100_000)
            $0.changes = (0..<5_000).map { "created feature F\($0)" }
            $0.subjects = (0..<5_000).map { "feature:F\($0)" }
            $0.reason = "import"
        }
        let fitted = GateService.fitting(entry, budget: 10_000)
        #expect(Pager.cost(of: fitted) <= 10_000)
        #expect(fitted.truncated)
        #expect(fitted.beforeJson.isEmpty && fitted.afterJson.isEmpty)
        #expect(fitted.changes.last?.hasSuffix("more") == true)
        #expect(fitted.revision == 9 && fitted.reason == "import")
    }

    @Test func keptListingsAreBoundedByCountAndEntries() {
        let kept = ListingSnapshots(capacity: 3, entryCapacity: 100)
        func key(_ revision: UInt64, readable: String? = nil) -> ListingSnapshots.Key {
            .init(method: "Features/List", revision: Revision(revision), filter: 1, readable: readable)
        }
        for revision in 1...4 { kept.keep([Int](repeating: 0, count: 10), entries: 10, for: key(UInt64(revision))) }
        #expect(kept.listing(for: key(1), as: [Int].self) == nil, "the oldest of four went")
        #expect(kept.listing(for: key(4), as: [Int].self)?.count == 10)
        #expect(kept.listing(for: key(4, readable: "kubelet"), as: [Int].self) == nil, "a component's key is not a viewer's")
        kept.keep([Int](repeating: 0, count: 85), entries: 85, for: key(5))
        #expect(kept.listing(for: key(5), as: [Int].self) != nil)
        #expect(kept.listing(for: key(3), as: [Int].self) == nil && kept.listing(for: key(2), as: [Int].self) == nil, "evicted to stay under 100 entries")
        kept.keep([Int](repeating: 0, count: 101), entries: 101, for: key(6))
        #expect(kept.listing(for: key(6), as: [Int].self) == nil, "a listing larger than the whole bound is not kept")
    }
}

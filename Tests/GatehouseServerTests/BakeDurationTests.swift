import Testing

@testable import GatehouseServer

@Suite struct BakeDurationTests {
    @Test(arguments: [
        (Int64(0), "0s"), (250, "250ms"), (1_000, "1s"), (1_500, "1.5s"), (1_250, "1.25s"), (30_000, "30s"),
        (300_000, "5m"), (5_400_000, "1h30m"), (172_800_000, "2d"), (90_061_000, "1d1h1m1s"),
    ])
    func bakeTimesReadAsPeopleWriteThem(milliseconds: Int64, text: String) {
        #expect(BakeDuration.text(milliseconds: milliseconds) == text)
    }
}

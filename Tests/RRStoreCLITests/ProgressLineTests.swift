import RRStoreClient
import Testing

/// The backfill's terminal progress line, as a value: no terminal needed.
@Suite struct ProgressLineTests {
    @Test func showsCountsBytesRateAndTimeLeft() {
        var line = ProgressLine(totalItems: 24, totalBytes: 100_000_000)
        #expect(line.render(elapsedSeconds: 0) == "0/24 sessions [------------------------] 0.0/100.0 MB  0.0 MB/s  ETA --:--")
        line.doneItems = 6
        line.doneBytes = 25_000_000
        #expect(line.render(elapsedSeconds: 5) == "6/24 sessions [######------------------] 25.0/100.0 MB  5.0 MB/s  ETA 0:15")
        line.failedItems = 1
        line.doneBytes = 1_000_000
        #expect(line.render(elapsedSeconds: 1).hasSuffix("1.0 MB/s  ETA 1:39  (1 failed)"))
        line.doneBytes = 100_000
        #expect(line.render(elapsedSeconds: 1).contains("ETA 16:39"))
        line.doneBytes = 10_000
        #expect(line.render(elapsedSeconds: 1).contains("ETA 2:46:39"), "hours from an hour on")
        line.doneItems = 24
        line.doneBytes = 100_000_000
        #expect(line.render(elapsedSeconds: 20).hasSuffix("5.0 MB/s  done  (1 failed)"))
        #expect(line.render(elapsedSeconds: 20).contains("[########################]"))
    }

    @Test func emptySourcesAndUnknownSizes() {
        var line = ProgressLine(totalItems: 4, totalBytes: 0)
        line.doneItems = 2
        #expect(line.render(elapsedSeconds: 1).contains("[############------------]"), "by items when sizes are unknown")
        #expect(ProgressLine(totalItems: 0, totalBytes: 0).render(elapsedSeconds: 0).contains("done"))
    }
}

import RRStoreCore
import Testing

@Suite struct CivilTimeTests {
    @Test(arguments: [
        (0, "1970-01-01 00:00:00"),
        (-1, "1969-12-31 23:59:59"),
        (951_782_400, "2000-02-29 00:00:00"),      // a leap day of a century leap year
        (4_107_542_400, "2100-03-01 00:00:00"),    // 2100 is not a leap year
        (1_795_975_369, "2026-11-29 18:02:49"),
    ])
    func knownInstants(seconds: Int, expected: String) {
        let c = CivilTime(secondsSince1970: seconds)
        let p = CivilTime.padded
        #expect("\(p(c.year, 4))-\(p(c.month, 2))-\(p(c.day, 2)) \(p(c.hour, 2)):\(p(c.minute, 2)):\(p(c.second, 2))" == expected)
    }
}

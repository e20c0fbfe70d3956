import Foundation
import Testing

/// `rrstore stage list|delete` and `rrstore migrate` as an operator runs them, on the
/// embedded stores (StageTests covers S3 + PostgreSQL at the library level).
@Suite struct StageCommandTests {
    @Test func stagesAreListedMigratedAndDeletedOneAtATime() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-stage-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        for stage in ["pr-1", "pr-2"] {
            let migrated = try await CLI.run(["migrate", "--data", data, "--stage", stage])
            #expect(migrated.status == 0, "\(migrated.stderr)")
            #expect(String(decoding: migrated.stdout, as: UTF8.self).contains("stage \(stage): schema version"))
            // Something in its blob store too.
            let check = try await CLI.run(["check-storage", "--data", data], environment: ["RRSTORE_STAGE": stage])
            #expect(check.status == 0, "\(check.stderr)")
        }
        let listed = try await CLI.run(["stage", "list", "--data", data])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(String(decoding: listed.stdout, as: UTF8.self) == "stage\tblobs\tmetadata\tformat\npr-1\tyes\tyes\t3\npr-2\tyes\tyes\t3\n")

        let unconfirmed = try await CLI.run(["stage", "delete", "pr-1", "--data", data])
        #expect(unconfirmed.status != 0 && unconfirmed.stderr.contains("--yes"), "no terminal: nothing deleted without --yes")
        let deleted = try await CLI.run(["stage", "delete", "pr-1", "--yes", "--data", data])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(data)/stages/pr-1"))
        #expect(FileManager.default.fileExists(atPath: "\(data)/stages/pr-2/metadata.sqlite"))
        #expect(String(decoding: try await CLI.run(["stage", "list", "--data", data]).stdout, as: UTF8.self).hasSuffix("\npr-2\tyes\tyes\t3\n"))

        let bad = try await CLI.run(["stage", "list", "--data", data, "--stage", "Bad_Name"])
        #expect(bad.status != 0 && bad.stderr.contains("--stage") && bad.stderr.contains("a-z 0-9"), "\(bad.stderr)")
    }
}

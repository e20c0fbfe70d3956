import Foundation
import Testing
import RRStoreTestSupport

/// The declared settings: the README holds their tables as printed, and every one of them
/// is wired — given its example value as a flag or as its variable, `serve --print-config`
/// reports that value, taken from there.
@Suite struct SettingsTests {
    func json(_ result: CLI.Result) throws -> [[String: String]] {
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: String]])
    }

    func declarations() async throws -> [[String: String]] {
        let all = try json(try await CLI.run(["settings", "--json"]))
        #expect(all.count >= 45, "serve, storage and auth settings")
        #expect(Set(all.compactMap { $0["flag"] }).count == all.count, "each flag declared once")
        #expect(Set(all.compactMap { $0["variable"] }).count == all.count, "each variable declared once")
        return all
    }

    @Test func theREADMEHoldsEveryTableAsPrinted() async throws {
        let printed = String(decoding: try await CLI.run(["settings", "--markdown"]).stdout, as: UTF8.self)
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = printed.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        #expect(blocks.count == 3)
        for block in blocks {
            #expect(readme.contains(block), "README.md lacks or differs from this table (paste `rrstore settings --markdown`):\n\(block)")
        }
        for declared in try await declarations() {
            #expect(printed.contains("`--\(declared["flag"]!) "), "\(declared["flag"]!) is in the tables")
        }
    }

    @Test func everySettingTakesItsFlagAndItsVariable() async throws {
        let declared = try await declarations()
        let defaults = try json(try await CLI.run(["serve", "--print-config"]))
        #expect(defaults.allSatisfy { $0["origin"] == "default" })
        let defaultValues = Dictionary(uniqueKeysWithValues: defaults.map { ($0["flag"]!, $0["value"]!) })

        let flags = declared.flatMap { ["--\($0["flag"]!)", $0["example"]!] }
        let byFlag = try json(try await CLI.run(["serve", "--print-config"] + flags))
        var environment: [String: String] = [:]
        for setting in declared { environment[setting["variable"]!] = setting["example"]! }
        let byVariable = try json(try await CLI.run(["serve", "--print-config"], environment: environment))

        for (resolved, origin) in [(byFlag, "flag"), (byVariable, "environment")] {
            #expect(resolved.count == declared.count)
            for entry in resolved {
                let flag = entry["flag"]!
                #expect(entry["origin"] == origin, "--\(flag) taken from its \(origin)")
                #expect(entry["value"] != defaultValues[flag], "--\(flag) changed the configuration")
            }
        }
        // Secrets never echo.
        let secret = try #require(byFlag.first { $0["flag"] == "url-signing-secret" })
        #expect(secret["value"] == "(secret)")
        #expect(!String(decoding: try await CLI.run(["serve", "--print-config"] + flags).stdout, as: UTF8.self).contains("another-example-secret"))
    }

    /// Every option `serve` offers is a declared setting (an option without a declaration
    /// would be read by nothing), apart from the command's own switches.
    @Test func serveOffersOnlyDeclaredSettings() async throws {
        let help = try await CLI.run(["serve", "--help"])
        let text = String(decoding: help.stdout, as: UTF8.self) + help.stderr
        let offered = Set(text.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) })
        let declared = Set(try await declarations().map { $0["flag"]! })
        #expect(offered.subtracting(declared) == ["print-config", "help"], "undeclared options: \(offered.subtracting(declared).sorted())")
        #expect(declared.isSubset(of: offered), "declared but not offered: \(declared.subtracting(offered).sorted())")
    }

    @Test func aBadValueNamesWhereItCameFrom() async throws {
        let fromFlag = try await CLI.run(["serve", "--print-config", "--store-timeout", "0"])
        #expect(fromFlag.status != 0)
        #expect(fromFlag.stderr.contains("--store-timeout must be a number of seconds above 0"))
        let fromVariable = try await CLI.run(["serve", "--print-config"], environment: ["RRSTORE_MIN_TREE_SIZE": "1"])
        #expect(fromVariable.status != 0)
        #expect(fromVariable.stderr.contains("RRSTORE_MIN_TREE_SIZE must be a whole number from 2"))
        // The replay frame's origin goes into the viewer's pages and policies: an origin only.
        for bad in ["https://replay.example/path", "javascript:alert(1)", "https://a b", "ftp://replay.example"] {
            let refused = try await CLI.run(["serve", "--print-config", "--viewer-frame-url", bad])
            #expect(refused.status != 0 && refused.stderr.contains("--viewer-frame-url must be an origin"), "\(bad)")
        }
        #expect(try await CLI.run(["serve", "--print-config", "--viewer-frame-url", "https://replay.example:8443"]).status == 0)
        let empty = try json(try await CLI.run(["serve", "--print-config"], environment: ["RRSTORE_PORT": ""]))
        #expect(empty.first { $0["flag"] == "port" }?["origin"] == "default", "an empty variable counts as unset")
    }
}

import ArgumentParser
import Foundation

/// The declared settings of `serve` (and of the storage and auth options other commands
/// share), as the README's tables or as JSON.
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List every setting of serve: flag, environment variable, default and meaning.",
        discussion: "The README's configuration tables are this command's --markdown output (a test checks them)."
    )

    @Flag(help: "The README's tables, one per component.") var markdown = false
    @Flag(help: "The declarations as JSON (flag, variable, an example value).") var json = false

    func run() throws {
        if json {
            let all = ServeSettings.table.declarations() + StorageSettings.table.declarations() + AuthSettings.table.declarations()
            print(String(decoding: try JSONSerialization.data(withJSONObject: all, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        for (title, table) in [(ServeSettings.table.title, ServeSettings.table.markdown()),
                               (StorageSettings.table.title, StorageSettings.table.markdown()),
                               (AuthSettings.table.title, AuthSettings.table.markdown())] {
            print(markdown ? "<!-- settings: \(title) -->\n\(table)\n<!-- end settings: \(title) -->\n" : "\(title):\n\(table)\n")
        }
    }
}

import ArgumentParser
import Foundation
import RRStoreCore
import RRStoreStorage

/// `rrstore stage list|delete`: the release stages sharing this bucket and database.
struct StageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage",
        abstract: "List the release stages in the configured stores, or delete one.",
        discussion: """
        A stage (`--stage NAME` on serve and every other command) is a deployment of its own — a \
        pull request's, staging, production — with its own S3 prefix, PostgreSQL schema or data \
        directory, sharing the bucket and the database server with the others.
        """,
        subcommands: [List.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the named stages: where each has data, and its store format.")
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            try await reportingErrors {
                let catalog = StageCatalog(try storage.resolve(), environment: ProcessInfo.processInfo.environment)
                let entries = try await catalog.list()
                print("stage\tblobs\tmetadata\tformat")
                for entry in entries {
                    print("\(entry.stage)\t\(entry.inBlobStore ? "yes" : "no")\t\(entry.inMetadataStore ? "yes" : "no")\t\(entry.format.map(String.init) ?? "-")")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a named stage: its blobs and its metadata, nothing of any other stage.",
            discussion: "Stop the stage's instances first. The default stage (no name) is never deleted by this.")
        @Argument(help: "The stage to delete.") var name: String
        @Flag(help: "Delete without asking (needed when standard input is not a terminal).") var yes = false
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            try await reportingErrors {
                let stage = try Stage(name)
                if !yes {
                    guard isatty(0) != 0 else {
                        throw RRStoreError(.invalidConfiguration, "deleting stage \(stage) removes all its recordings: pass --yes to confirm")
                    }
                    print("Delete stage \(stage) and all its recordings? Type its name to confirm: ", terminator: "")
                    guard readLine() == stage.name else { throw RRStoreError(.invalidConfiguration, "not confirmed; nothing deleted") }
                }
                let catalog = StageCatalog(try storage.resolve(), environment: ProcessInfo.processInfo.environment)
                let (blobs, metadata) = try await catalog.delete(stage) { printError("stage delete: \($0) blobs removed…") }
                print("stage \(stage): \(blobs) blobs removed; metadata \(metadata ? "dropped" : "was not there")")
            }
        }
    }
}

/// `rrstore migrate`: the contract step of a format change (see README, "Upgrading").
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply every pending store migration, the contract ones too, and move the store to this binary's format.",
        discussion: """
        Every instance applies the additive (expand) migrations it knows when it starts. A \
        migration that older instances cannot live with (contract) waits for this command: run \
        it once every instance of the stage runs this release.
        """
    )
    @OptionGroup var storage: StorageOptions

    func run() async throws {
        try await reportingErrors {
            let configuration = try storage.resolve()
            let store = try await configuration.makeMetadataStore()
            let (before, after, version) = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try? await store.run() }
                defer { group.cancelAll() }
                try await store.migrate()
                let before = try await store.storeFormat()
                try await store.migrate(contract: true)
                return (before, try await store.storeFormat(), try await store.schemaVersion())
            }
            let stage = configuration.stage.map { "stage \($0)" } ?? "the default stage"
            print("\(stage): schema version \(version); format \(before == after ? "\(after) (unchanged)" : "\(before) → \(after)")")
        }
    }
}

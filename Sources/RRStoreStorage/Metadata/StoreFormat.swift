import RRStoreCore

/// What a binary must understand to use a store, kept in the metadata store's
/// `rrstore_format` row, so instances can be upgraded one at a time:
///
/// - An *expand* migration adds what older binaries ignore (a table, a column, an index):
///   every binary applies the ones it knows at start, and the format stays.
/// - A *contract* migration changes or drops what older binaries read or write. Only
///   `rrstore migrate` applies it — after every instance runs a binary that knows it, and
///   until then new instances keep writing what old ones read — and it raises the format.
/// - A binary refuses a store whose format is newer than its own, saying so, instead of
///   misreading it.
///
/// A new store is created at the binary's format, with every migration applied.
public enum StoreFormat {
    /// The format this binary reads and writes.
    public static let current = 3
    /// Contract migrations, by schema version, and the format each brings. Versions 1–3 are
    /// format 1; version 4 (no schema change) brings format 2: event chunks in zstd, which
    /// format-1 binaries cannot read; version 6 brings format 3: small assets in packs
    /// (version 5 added the tables, which format-2 binaries ignore).
    static let contractMigrations: [Int: Int] = [4: 2, 6: 3]

    public static let newerFormat = RRStoreError.Code("newer_store_format")

    static let createTable = "CREATE TABLE IF NOT EXISTS rrstore_format (id INTEGER PRIMARY KEY, format INTEGER NOT NULL, updated_at BIGINT NOT NULL)"

    /// Refuses a store in a format this binary does not know.
    static func check(stored: Int, where place: String) throws {
        guard stored <= current else {
            throw RRStoreError(newerFormat, "the store at \(place) is at format \(stored), newer than this rrstore knows (format \(current)): it was migrated by a newer release. Run that release (or newer) here; going back needs a backup from before its `rrstore migrate`")
        }
    }

    /// Which of `pending` (schema versions not yet applied, ascending) to apply now, and the
    /// format the store is at afterwards. Without `contract`, application stops before
    /// the first contract migration (unless the store is new: no instance can be reading it).
    static func plan(pending: [Int], storedFormat: Int?, isNew: Bool, contract: Bool,
                     contractMigrations: [Int: Int] = contractMigrations) -> (apply: [Int], format: Int, waiting: Int?) {
        var format = storedFormat ?? 1
        var apply: [Int] = []
        for version in pending {
            if let brings = contractMigrations[version] {
                guard contract || isNew else { return (apply, format, version) }
                format = max(format, brings)
            }
            apply.append(version)
        }
        if isNew { format = current }
        return (apply, format, nil)
    }
}

/// An error from rrstore: a stable, machine-readable `code` plus a message that says what
/// went wrong and, where it can, how to fix it.
///
/// Codes are an open set (`struct`, not `enum`) so that later layers add their own without
/// breaking exhaustive switches in callers.
public struct RRStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidJSON = Code("invalid_json")
        public static let nestingTooDeep = Code("nesting_too_deep")
        public static let invalidEvent = Code("invalid_event")
        public static let invalidDigest = Code("invalid_digest")
        public static let invalidReference = Code("invalid_reference")
        public static let missingAsset = Code("missing_asset")
        public static let corruptAsset = Code("corrupt_asset")
        public static let invalidGzip = Code("invalid_gzip")
        public static let invalidZstd = Code("invalid_zstd")
        public static let truncatedInput = Code("truncated_input")
        public static let tooLarge = Code("too_large")
        public static let io = Code("io_error")
        /// A store or service did not answer (after retries): try again later.
        public static let storageUnavailable = Code("storage_unavailable")
        /// The disk (or quota) is full.
        public static let noSpace = Code("insufficient_storage")
    }

    public var code: Code
    public var message: String
    /// Byte offset into the input the error refers to, when there is one.
    public var offset: Int?

    public init(_ code: Code, _ message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    public var description: String {
        if let offset { return "\(code): \(message) (at byte \(offset))" }
        return "\(code): \(message)"
    }
}

import ArgumentParser
import RRStoreAuth
import RRStoreCore
import RRStoreStorage

@main
struct RRStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rrstore",
        abstract: "Store rrweb session recordings with their large values deduplicated.",
        subcommands: [ServeCommand.self, BackfillCommand.self, BenchCommand.self, RewriteCommand.self, RehydrateCommand.self, CheckStorageCommand.self, StageCommand.self, MigrateCommand.self, RepackCommand.self, GCCommand.self, SmokeCommand.self, SettingsCommand.self]
    )
}

/// Runs a command body, turning rrstore errors into one clear line on stderr and exit 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch { throw reported(error) }
}

/// The same for async command bodies.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do { try await body() } catch { throw reported(error) }
}

/// An rrstore or auth error printed as one line (exit 1); anything else passed on for
/// ArgumentParser to report.
private func reported(_ error: any Error) -> any Error {
    guard error is RRStoreError || error is AuthError else { return error }
    printError("rrstore: error: \(error)")
    return ExitCode.failure
}

func printError(_ message: String) {
    var standardError = StandardError()
    print(message, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = _write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

/// The process's peak resident set size in bytes (VmHWM), or nil where /proc is missing.
func peakResidentBytes() -> Int? {
    guard let status = try? FileSystem.readAll("/proc/self/status") else { return nil }
    for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        return digits.map { $0 * 1024 }
    }
    return nil
}

func peakMemoryLine() -> String {
    "peak memory: " + (peakResidentBytes().map { "\($0 >> 20) MiB" } ?? "unknown")
}

#if canImport(Glibc)
import Glibc
import RRStoreIO
private func _write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Glibc.write(fd, p, n) }
#endif

#if FUZZING
/// libFuzzer's entry point (built with `-sanitize=fuzzer -DFUZZING`, see scripts/fuzz.sh):
/// the target is named by RRSTORE_FUZZ_TARGET.
import Foundation

private let target: @Sendable (UnsafeRawBufferPointer) -> Void = {
    let name = ProcessInfo.processInfo.environment["RRSTORE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        fatalError("RRSTORE_FUZZ_TARGET must be one of \(FuzzTargets.all.keys.sorted())")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    target(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver (in the runtime `-sanitize=fuzzer` links).
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable's `main` to `<module>_main`: that is libFuzzer's driver here.
@_cdecl("RRStoreFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments, { data, size in fuzzOneInput(data, size) })
}
#else
import Foundation

/// Without libFuzzer: `rrstore-fuzz TARGET PATH...` runs every file (or every file in each
/// folder) through the target once, so the seed corpus and any crash found are replayed
/// by the ordinary test suite.
@main
struct ReplayFuzzInputs {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTargets.all[name] else {
            FileHandle.standardError.write(Data("usage: rrstore-fuzz \(FuzzTargets.all.keys.sorted().joined(separator: "|")) PATH...\n".utf8))
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
                bytes.withUnsafeBytes { target($0) }
                count += 1
            }
        }
        print("\(name): \(count) inputs, no trap")
    }
}
#endif

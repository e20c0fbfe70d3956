/// Decoding and encoding of JSON string contents by the rules of ECMAScript's
/// `JSON.stringify` — the encoder every rrweb recording goes through. Under those rules
/// each string has exactly one spelling, which is what lets a text asset be stored as
/// plain UTF-8 and still be put back byte for byte.
public enum JSONStringCoding {
    /// Bytes that `JSON.stringify` writes as a short escape, indexed by byte; 0 = none.
    static let shortEscape: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        table[0x08] = UInt8(ascii: "b"); table[0x09] = UInt8(ascii: "t"); table[0x0A] = UInt8(ascii: "n")
        table[0x0C] = UInt8(ascii: "f"); table[0x0D] = UInt8(ascii: "r")
        table[0x22] = UInt8(ascii: "\""); table[0x5C] = UInt8(ascii: "\\")
        return table
    }()

    /// Unescapes raw string contents (between the quotes) into `out` if every escape in
    /// them is the one `JSON.stringify` would write; returns false (with `out` in an
    /// unspecified state) if any is not — `\/`, `\u0041`, uppercase hex, escaped
    /// surrogates — and the raw form must be kept instead.
    public static func unescapeCanonical(_ raw: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(raw.count)
        guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return true }
        let n = raw.count
        var i = 0
        var runStart = 0
        while i < n {
            i = JSONBytes.skipPlainStringBytes(base, from: i, count: n)
            guard i < n else { break }
            // The scanner validated the text: what stopped us is a backslash.
            guard base[i] == UInt8(ascii: "\\"), i + 1 < n else { return false }
            out.append(contentsOf: UnsafeRawBufferPointer(start: base + runStart, count: i - runStart))
            let e = base[i + 1]
            switch e {
            case UInt8(ascii: "\""): out.append(0x22); i += 2
            case UInt8(ascii: "\\"): out.append(0x5C); i += 2
            case UInt8(ascii: "b"): out.append(0x08); i += 2
            case UInt8(ascii: "f"): out.append(0x0C); i += 2
            case UInt8(ascii: "n"): out.append(0x0A); i += 2
            case UInt8(ascii: "r"): out.append(0x0D); i += 2
            case UInt8(ascii: "t"): out.append(0x09); i += 2
            case UInt8(ascii: "u"):
                // Canonical only for control characters without a short form: \u00XX, lowercase.
                guard i + 6 <= n, base[i + 2] == UInt8(ascii: "0"), base[i + 3] == UInt8(ascii: "0"),
                      let hi = HexDigits.value(ofLowercase: base[i + 4]), hi <= 1,
                      let lo = HexDigits.value(ofLowercase: base[i + 5]) else { return false }
                let value = hi << 4 | lo
                guard shortEscape[Int(value)] == 0 else { return false }
                out.append(value)
                i += 6
            default:
                return false
            }
            runStart = i
        }
        out.append(contentsOf: UnsafeRawBufferPointer(start: base + runStart, count: n - runStart))
        return true
    }

    /// Appends `text` escaped as `JSON.stringify` would (without the quotes).
    public static func appendEscaped(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        guard let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = text.count
        var i = 0
        var runStart = 0
        while i < n {
            i = JSONBytes.skipPlainStringBytes(base, from: i, count: n)
            guard i < n else { break }
            out.append(contentsOf: UnsafeRawBufferPointer(start: base + runStart, count: i - runStart))
            let c = base[i]
            let short = shortEscape[Int(c)]
            out.append(UInt8(ascii: "\\"))
            if short != 0 {
                out.append(short)
            } else {
                out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        HexDigits.lower[Int(c >> 4)], HexDigits.lower[Int(c & 0xF)]])
            }
            i += 1
            runStart = i
        }
        out.append(contentsOf: UnsafeRawBufferPointer(start: base + runStart, count: n - runStart))
    }
}

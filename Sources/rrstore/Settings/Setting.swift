import Foundation
import ArgumentParser

/// One configuration setting, declared once: its flag, its `RRSTORE_*` variable, what it
/// means, whether it is a secret, how its text becomes part of a configuration value and
/// how that value reads back. The command's help, `--print-config`, the README's tables
/// (`rrstore settings --markdown`, checked by a test) and the tests' examples all come
/// from these declarations, so none of them can drift from another.
struct Setting<Root> {
    /// The long flag, without `--`.
    let flag: String
    let variable: String
    /// The value's name in help and the README (`N`, `S`, `URL`).
    let placeholder: String
    let meaning: String
    /// A valid value that differs from the default: what the tests set it to.
    let example: String
    var secret = false
    /// A flag given several times, or a comma-separated variable.
    var repeatable = false
    /// The value as text, or nil when unset.
    let show: (Root) -> String?
    /// Applies the given text(s); `origin` names the flag or variable, for errors.
    let apply: (inout Root, [String], _ origin: String) throws -> Void

    init(_ flag: String, variable: String? = nil, _ placeholder: String, example: String, secret: Bool = false, repeatable: Bool = false,
         _ meaning: String, show: @escaping (Root) -> String?, apply: @escaping (inout Root, [String], String) throws -> Void) {
        self.flag = flag
        self.variable = variable ?? "RRSTORE_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
        self.placeholder = placeholder
        self.meaning = meaning
        self.example = example
        self.secret = secret
        self.repeatable = repeatable
        self.show = show
        self.apply = apply
    }

    /// The default as the README and help say it.
    func defaultText(_ defaults: Root) -> String {
        guard let value = show(defaults) else { return "—" }
        if secret { return "—" }
        return value.isEmpty ? "empty" : value
    }
}

extension Setting {
    static func integer(_ flag: String, _ path: WritableKeyPath<Root, Int>, _ placeholder: String = "N", in range: ClosedRange<Int>,
                        example: Int, _ meaning: String) -> Setting {
        integer(flag, get: { $0[keyPath: path] }, set: { $0[keyPath: path] = $1 }, placeholder, in: range, example: example, meaning)
    }

    static func integer(_ flag: String, get: @escaping (Root) -> Int, set: @escaping (inout Root, Int) -> Void, _ placeholder: String = "N",
                        in range: ClosedRange<Int>, example: Int, _ meaning: String) -> Setting {
        Setting(flag, placeholder, example: "\(example)", meaning, show: { "\(get($0))" }) { root, values, origin in
            let text = values.last ?? ""
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw ValidationError("\(origin) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            set(&root, value)
        }
    }

    static func seconds(_ flag: String, _ path: WritableKeyPath<Root, Double>, example: Double, _ meaning: String) -> Setting {
        seconds(flag, get: { $0[keyPath: path] }, set: { $0[keyPath: path] = $1 }, example: example, meaning)
    }

    static func seconds(_ flag: String, get: @escaping (Root) -> Double, set: @escaping (inout Root, Double) -> Void,
                        example: Double, _ meaning: String) -> Setting {
        Setting(flag, "S", example: formatSeconds(example), meaning, show: { formatSeconds(get($0)) }) { root, values, origin in
            let text = values.last ?? ""
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value > 0, value <= 86_400 else {
                throw ValidationError("\(origin) must be a number of seconds above 0 and at most 86400, not '\(text)'")
            }
            set(&root, value)
        }
    }

    static func boolean(_ flag: String, _ path: WritableKeyPath<Root, Bool>, example: Bool, _ meaning: String) -> Setting {
        Setting(flag, "true|false", example: "\(example)", meaning, show: { "\($0[keyPath: path])" }) { root, values, origin in
            let text = (values.last ?? "").lowercased()
            switch text {
            case "true", "1", "yes", "on": root[keyPath: path] = true
            case "false", "0", "no", "off": root[keyPath: path] = false
            default: throw ValidationError("\(origin) must be true or false, not '\(text)'")
            }
        }
    }

    static func text(_ flag: String, _ path: WritableKeyPath<Root, String>, _ placeholder: String, example: String, _ meaning: String,
                     check: @escaping (String, String) throws -> Void = { _, _ in }) -> Setting {
        Setting(flag, placeholder, example: example, meaning, show: { $0[keyPath: path] }) { root, values, origin in
            let value = values.last ?? ""
            try check(value, origin)
            root[keyPath: path] = value
        }
    }

    static func optionalText(_ flag: String, _ path: WritableKeyPath<Root, String?>, _ placeholder: String, example: String,
                             secret: Bool = false, _ meaning: String) -> Setting {
        Setting(flag, placeholder, example: example, secret: secret, meaning, show: { $0[keyPath: path] }) { root, values, _ in
            root[keyPath: path] = values.last
        }
    }

    static func choice<Value: RawRepresentable & CaseIterable>(_ flag: String, _ path: WritableKeyPath<Root, Value>, example: Value,
                                                              _ meaning: String) -> Setting where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        return Setting(flag, names.joined(separator: "|"), example: example.rawValue, meaning, show: { $0[keyPath: path].rawValue }) { root, values, origin in
            let text = values.last ?? ""
            guard let value = Value(rawValue: text) else {
                throw ValidationError("\(origin) must be one of \(names.joined(separator: ", ")), not '\(text)'")
            }
            root[keyPath: path] = value
        }
    }
}

func formatSeconds(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
}

import ArgumentParser
import Foundation

/// A component's settings over its configuration value, with the defaults they start from.
struct SettingsTable<Root> {
    enum Origin: String { case flag, environment, `default` }

    let title: String
    let defaults: Root
    let settings: [Setting<Root>]

    func setting(_ flag: String) -> Setting<Root>? { settings.first { $0.flag == flag } }

    /// Help for the option declared for `flag`: the meaning, the variable and the default.
    func help(_ flag: String) -> ArgumentHelp {
        guard let setting = setting(flag) else { return ArgumentHelp("(undeclared setting --\(flag))") }
        let multiple = setting.repeatable ? ", comma-separated" : ""
        return ArgumentHelp("\(setting.meaning) (env \(setting.variable)\(multiple); default \(setting.defaultText(defaults)))",
                            valueName: setting.placeholder)
    }

    /// The configuration: each setting from its flag if given, else from its variable
    /// unless empty (an empty variable counts as unset, as shells and compose files pass
    /// them), else its default. Also says where each value came from.
    func resolve(flags: [String: [String]], environment: [String: String]) throws -> (Root, [String: Origin]) {
        var root = defaults
        var origins: [String: Origin] = [:]
        for setting in settings {
            if let given = flags[setting.flag], !given.isEmpty {
                try setting.apply(&root, given, "--\(setting.flag)")
                origins[setting.flag] = .flag
            } else if let text = environment[setting.variable], !text.isEmpty {
                let values = setting.repeatable
                    ? text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    : [text]
                try setting.apply(&root, values, setting.variable)
                origins[setting.flag] = .environment
            } else {
                origins[setting.flag] = .default
            }
        }
        return (root, origins)
    }

    /// The flags given to a command, read off its `@Option` properties: a property is
    /// matched to the setting whose flag spells its name (`maxBody` is `--max-body`).
    func given(in arguments: Any) -> [String: [String]] {
        func normalized(_ name: String) -> String { name.lowercased().filter { $0 != "-" && $0 != "_" } }
        var byName: [String: String] = [:]
        for setting in settings { byName[normalized(setting.flag)] = setting.flag }
        var found: [String: [String]] = [:]
        for child in Mirror(reflecting: arguments).children {
            guard let label = child.label, let flag = byName[normalized(label)] else { continue }
            if let option = child.value as? Option<String?>, let value = option.wrappedValue {
                found[flag] = [value]
            } else if let option = child.value as? Option<[String]>, !option.wrappedValue.isEmpty {
                found[flag] = option.wrappedValue
            }
        }
        return found
    }

    /// The README's table of these settings.
    func markdown() -> String {
        var lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
        for setting in settings {
            let flag = "`--\(setting.flag) \(setting.placeholder)`".replacingOccurrences(of: "|", with: "\\|") + (setting.repeatable ? " (repeatable)" : "")
            let variable = "`\(setting.variable)`" + (setting.repeatable ? " (comma-separated)" : "")
            let value = setting.defaultText(defaults)
            let shown = value == "—" || value == "empty" ? value : "`\(value)`"
            lines.append("| \(flag) | \(variable) | \(shown) | \(setting.meaning.replacingOccurrences(of: "|", with: "\\|")) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Each setting's value and where it came from, secrets redacted: `--print-config`.
    func describe(_ root: Root, origins: [String: Origin]) -> [[String: String]] {
        settings.map { setting in
            let value = setting.show(root)
            return ["flag": setting.flag, "variable": setting.variable,
                    "value": setting.secret ? (value == nil ? "" : "(secret)") : (value ?? ""),
                    "default": setting.defaultText(defaults),
                    "origin": origins[setting.flag]?.rawValue ?? "default"]
        }
    }

    /// The declarations, for the test that sets every setting.
    func declarations() -> [[String: String]] {
        settings.map { ["flag": $0.flag, "variable": $0.variable, "example": $0.example, "repeatable": $0.repeatable ? "yes" : "no"] }
    }
}

extension [String: String] {
    /// A setting's value: the flag's if it was given, else the environment variable's unless
    /// it is empty (an empty variable counts as unset, as shells and compose files pass them).
    func setting(_ flag: String?, or variable: String) -> String? {
        flag ?? self[variable].flatMap { $0.isEmpty ? nil : $0 }
    }
}

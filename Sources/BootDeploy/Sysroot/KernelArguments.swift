import BootDeployEarlyBoot

/// The kernel command line as the kernel splits it: parameters are separated by whitespace outside
/// double quotes; quotes group but are not part of the key. `key="a b"` is one parameter.
public struct KernelArguments: Sendable, Equatable {
    public var parameters: [String]

    public init(_ parameters: [String]) { self.parameters = parameters }

    /// Splits a command line the way the kernel's `next_arg()` does, quotes kept (early boot's
    /// `KernelCommandLine.words`, the one splitter).
    public init(parsing line: String) {
        parameters = KernelCommandLine.words(line)
    }

    /// The key of a parameter: the part before the first `=` (the kernel looks for it inside
    /// quotes too), quotes removed.
    public static func key(of parameter: String) -> String {
        var key = ""
        for c in parameter {
            if c == "\"" { continue }
            if c == "=" { break }
            key.append(c)
        }
        return key
    }

    /// The value of a parameter (after the first `=`), with surrounding quotes removed; nil when
    /// the parameter has no `=`.
    public static func value(of parameter: String) -> String? {
        guard let eq = parameter.firstIndex(of: "=") else { return nil }
        var v = String(parameter[parameter.index(after: eq)...])
        if v.count >= 2 && v.hasPrefix("\"") && v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
        // `"key=a b"`: the whole parameter was quoted; the kernel drops the closing quote.
        else if parameter.hasPrefix("\"") && v.hasSuffix("\"") { v = String(v.dropLast()) }
        return v
    }

    /// First value of `key`.
    public func value(_ key: String) -> String? {
        for p in parameters where KernelArguments.key(of: p) == key { return KernelArguments.value(of: p) ?? "" }
        return nil
    }

    /// Quotes a value that contains whitespace, as the kernel expects it.
    public static func make(key: String, value: String?) -> String {
        guard let value else { return key }
        if value.contains(where: { $0 == " " || $0 == "\t" }) && !value.hasPrefix("\"") { return "\(key)=\"\(value)\"" }
        return "\(key)=\(value)"
    }

    public mutating func append(_ parameter: String) {
        let k = KernelArguments.key(of: parameter)
        parameters.append(KernelArguments.make(key: k, value: KernelArguments.value(of: parameter)))
    }

    /// Deletes every parameter with this key, or only exact `key=value` matches when `spec` has `=`.
    /// Returns how many were removed.
    @discardableResult
    public mutating func delete(_ spec: String) -> Int {
        let before = parameters.count
        if spec.contains("=") {
            let k = KernelArguments.key(of: spec), v = KernelArguments.value(of: spec)
            parameters.removeAll { KernelArguments.key(of: $0) == k && KernelArguments.value(of: $0) == v }
        } else {
            parameters.removeAll { KernelArguments.key(of: $0) == spec }
        }
        return before - parameters.count
    }

    /// Replaces the value of every parameter with the key of `spec` (`key=value`). Returns how many.
    @discardableResult
    public mutating func replace(_ spec: String) -> Int {
        let k = KernelArguments.key(of: spec), v = KernelArguments.value(of: spec)
        var n = 0
        for i in parameters.indices where KernelArguments.key(of: parameters[i]) == k {
            parameters[i] = KernelArguments.make(key: k, value: v)
            n += 1
        }
        return n
    }

    public var line: String { parameters.joined(separator: " ") }
}

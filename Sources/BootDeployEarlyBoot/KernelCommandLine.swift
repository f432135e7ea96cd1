/// The kernel command line, split the way the kernel splits it: on spaces, with double quotes
/// grouping (`a="b c"` is one parameter whose value is `b c`).
public struct KernelCommandLine: Sendable, Equatable {
    /// One parameter: `key` alone, or `key=value` (value without its quotes).
    public struct Parameter: Sendable, Equatable {
        public var key: String
        public var value: String?
    }

    public var parameters: [Parameter]

    public init(_ text: String) {
        parameters = KernelCommandLine.words(text).map { word in
            var unquoted = String.UnicodeScalarView()
            unquoted.append(contentsOf: word.unicodeScalars.lazy.filter { $0 != "\"" })
            let s = String(unquoted)
            guard let eq = s.firstIndex(of: "=") else { return Parameter(key: s, value: nil) }
            return Parameter(key: String(s[..<eq]), value: String(s[s.index(after: eq)...]))
        }
    }

    /// The parameters as written, quotes kept: split on whitespace outside double quotes, as the
    /// kernel's `next_arg()` does. The one splitter: `KernelArguments` (entries, `kargs`) keeps these
    /// words; `init` reads keys and values from them; boot-health reads `bootdeploy=` through `init`.
    public static func words(_ text: String) -> [String] {
        var out: [String] = []
        var word = String.UnicodeScalarView()
        var inQuotes = false
        var started = false
        for u in text.unicodeScalars {
            if u == "\"" { inQuotes.toggle() }
            else if !inQuotes && (u == " " || u == "\n" || u == "\t" || u == "\r") {
                if started { out.append(String(word)); word = String.UnicodeScalarView(); started = false }
                continue
            }
            word.append(u)
            started = true
        }
        if started { out.append(String(word)) }
        return out
    }

    /// Every occurrence of `key`, in order. A bare `key` yields an empty string.
    public func values(_ key: String) -> [String] {
        parameters.filter { $0.key == key }.map { $0.value ?? "" }
    }

    /// The value of the last occurrence of `key`: like the kernel for its own parameters, a later
    /// one overrides an earlier one, so that a boot menu edit that appends wins.
    public func last(_ key: String) -> String? { values(key).last }
}

/// A deployment's identity: its stateroot and its id, `<stateroot>/<id>` when written (the
/// `bootdeploy=` argument, records, status). Every layer names a deployment with this type; a
/// string appears only where it is read (then parsed once) or shown (`description`).
public struct DeploymentName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var stateroot: String
    public var id: String

    public init(stateroot: String, id: String) {
        self.stateroot = stateroot
        self.id = id
    }

    /// Parses and checks a `bootdeploy=` value. Both parts must be names as docs/ON-DISK.md defines
    /// them, which is what keeps `..`, extra `/`, control characters and spaces out of the paths
    /// built from them.
    public init(argument: String) throws(PrepareRootError) {
        let shown = PrepareRootError.printable(argument)
        if argument.isEmpty { throw PrepareRootError("bootdeploy= is empty; expected bootdeploy=<stateroot>/<id>") }
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw PrepareRootError("bootdeploy=\(shown): expected exactly one '/' between <stateroot> and <id>")
        }
        for (what, part) in [("stateroot", parts[0]), ("id", parts[1])] {
            if let why = DeploymentName.problem(String(part)) {
                throw PrepareRootError("bootdeploy=\(shown): \(what) \(why)")
            }
        }
        stateroot = String(parts[0])
        id = String(parts[1])
    }

    /// Why `name` is not a valid stateroot or deployment id, or nil when it is: 1-64 of
    /// `[A-Za-z0-9._-]`, not starting with `.` or `-`. The one rule for these names (prepare-root,
    /// boot-deploy's `Names`, records, run-state files): it keeps `/`, `..`, whitespace, quotes and
    /// control characters out of paths, kernel arguments and boot-loader file-name sorts.
    public static func problem(_ name: String) -> String? {
        let u = Array(name.utf8)
        if u.isEmpty { return "is empty" }
        if u.count > 64 { return "is longer than 64 characters" }
        for b in u {
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
            if ok { continue }
            if b == UInt8(ascii: "/") { return "contains '/'" }
            if b < 0x20 || b == 0x7f { return "contains a character outside [A-Za-z0-9._-] (a control character)" }
            return "contains a character outside [A-Za-z0-9._-]"
        }
        if u[0] == UInt8(ascii: ".") || u[0] == UInt8(ascii: "-") { return "must not start with '.' or '-'" }
        return nil
    }

    /// Ordered as their written forms are, so that lists sorted by name read as before.
    public static func < (a: DeploymentName, b: DeploymentName) -> Bool {
        a.stateroot == b.stateroot ? a.id < b.id : a.description < b.description
    }

    public var description: String { "\(stateroot)/\(id)" }

    /// The stateroot directory relative to the physical root.
    public var stateRootPath: String { "bootdeploy/\(stateroot)" }
    /// The deployment tree relative to the physical root.
    public var deploymentPath: String { "bootdeploy/\(stateroot)/deploy/\(id)" }
}

/// The one error type of prepare-root: a sentence for the console, already naming what failed.
public struct PrepareRootError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// `s` with control characters and non-ASCII shown as escapes, so that an error line stays one
    /// line and shows what was really there.
    public static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7f {
                let hex = String(u.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }
}

import BootDeploySystem

/// A time span in microseconds, parsed from systemd's notation (`30s`, `5min`, `1h 30s`, `500ms`).
///
/// Kept as plain microseconds because every consumer (poll, sd-bus waits, deadlines) wants them.
public struct TimeSpan: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var microseconds: UInt64
    public init(microseconds: UInt64) { self.microseconds = microseconds }
    public static func seconds(_ s: UInt64) -> TimeSpan { TimeSpan(microseconds: s * 1_000_000) }
    public var seconds: Double { Double(microseconds) / 1_000_000 }
    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.microseconds < b.microseconds }

    private static let units: [(String, UInt64)] = [
        ("usec", 1), ("us", 1), ("µs", 1),
        ("msec", 1000), ("ms", 1000),
        ("seconds", 1_000_000), ("second", 1_000_000), ("sec", 1_000_000), ("s", 1_000_000),
        ("minutes", 60_000_000), ("minute", 60_000_000), ("min", 60_000_000), ("m", 60_000_000),
        ("hours", 3_600_000_000), ("hour", 3_600_000_000), ("hr", 3_600_000_000), ("h", 3_600_000_000),
        ("days", 86_400_000_000), ("day", 86_400_000_000), ("d", 86_400_000_000),
        ("weeks", 604_800_000_000), ("week", 604_800_000_000), ("w", 604_800_000_000),
    ]

    /// Parses a span; a bare number means seconds, as in systemd. `nil` for anything else
    /// (including `infinity`: every wait of boot-health must end).
    public init?(parsing text: String) {
        var rest = Substring(text.trimmingSpaces)
        if rest.isEmpty { return nil }
        var total: UInt64 = 0
        while !rest.isEmpty {
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            if rest.isEmpty { break }
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let n = UInt64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            let word = rest.prefix(while: { $0.isLetter || $0 == "µ" })
            var factor: UInt64 = 1_000_000
            if !word.isEmpty {
                guard let unit = TimeSpan.units.first(where: { $0.0 == word }) else { return nil }
                factor = unit.1
                rest = rest.dropFirst(word.count)
            }
            let (product, o1) = n.multipliedReportingOverflow(by: factor)
            let (sum, o2) = total.addingReportingOverflow(product)
            if o1 || o2 { return nil }
            total = sum
        }
        microseconds = total
    }

    public var description: String {
        var us = microseconds
        if us == 0 { return "0" }
        var parts: [String] = []
        for (name, f) in [("h", UInt64(3_600_000_000)), ("min", 60_000_000), ("s", 1_000_000), ("ms", 1000), ("us", 1)] where us >= f {
            parts.append("\(us / f)\(name)")
            us %= f
        }
        return parts.joined(separator: " ")
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

/// A configuration file that could not be used, naming the file and the line, as invariant 4 wants.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var message: String
    /// The message quotes the file's own text: shown escaped (SafeText), one line.
    public var description: String { "\(file)\(line > 0 ? ":\(line)" : ""): \(SafeText.escape(message))" }
}

/// A unit that must be active for the boot to count as healthy.
public struct RequiredUnit: Sendable, Equatable {
    public var name: String
    /// How long the unit may take to become active once startup has finished.
    public var timeout: TimeSpan
}

/// The settings of boot-health: `boot-health.conf` and its drop-ins, systemd-style INI.
///
/// Files are read vendor first (`/usr/lib/boot-health`), then the administrator's (`/etc/boot-health`),
/// then the drop-ins of all directories sorted by file name (a drop-in in `/etc` masks one of the same
/// name in `/usr/lib`); a later assignment wins, as in systemd.
public struct HealthConfig: Sendable, Equatable {
    public var checkTimeout = TimeSpan.seconds(300)
    public var totalTimeout = TimeSpan.seconds(900)
    public var startupTimeout = TimeSpan.seconds(600)
    public var maxAttempts = 3
    public var gracePeriod = TimeSpan.seconds(300)
    public var rebootOnFailure = true
    public var rebootLimitBurst = 3
    public var rebootLimitInterval = TimeSpan.seconds(3600)
    public var counter: CounterChoice = .auto
    public var defaultUnitTimeout = TimeSpan.seconds(90)
    public var units: [RequiredUnit] = []
    /// How many checks may run at once (wanted checks; required ones run one by one).
    public var parallelism = 8
    /// Unknown keys and sections: reported, never fatal, so that a newer config works with an older tool.
    public var warnings: [String] = []

    public init() {}

    /// Which boot counter to use; `auto` picks the one the booted entry shows.
    public enum CounterChoice: String, Sendable, Equatable { case auto, bls, grubenv, software, none }

    /// Reads the configuration below `dirs`, which are given highest priority first
    /// (`/etc/boot-health`, `/usr/lib/boot-health`).
    public static func load(dirs: [String]) throws -> HealthConfig {
        var config = HealthConfig()
        for (file, text) in try ConfigFiles.load(dirs: dirs) { try config.apply(text, file: file) }
        return config
    }

    /// Applies one file's assignments on top of the current values.
    public mutating func apply(_ text: String, file: String) throws(ConfigError) {
        var section = ""
        var lineNo = 0
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var line = String(raw).trimmingSpaces
            // A trailing backslash continues the line, as in systemd.
            if line.hasSuffix("\\") {
                pending += String(line.dropLast()) + " "
                continue
            }
            line = (pending + line).trimmingSpaces
            pending = ""
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw ConfigError(file: file, line: lineNo, message: "malformed section header '\(line)'")
                }
                section = String(line.dropFirst().dropLast())
                if !["Checks", "Boot"].contains(section) && !section.hasPrefix("Unit:") {
                    warnings.append(SafeText.escape("\(file):\(lineNo): unknown section [\(section)], ignored"))
                } else if section.hasPrefix("Unit:") {
                    let name = String(section.dropFirst(5))
                    guard Self.isUnitName(name) else {
                        throw ConfigError(file: file, line: lineNo, message: "bad unit name in [\(section)]")
                    }
                    if !units.contains(where: { $0.name == name }) { units.append(RequiredUnit(name: name, timeout: defaultUnitTimeout)) }
                    guard units.count <= ConfigBounds.units else {
                        throw ConfigError(file: file, line: lineNo, message: "more than \(ConfigBounds.units) required units")
                    }
                }
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigError(file: file, line: lineNo, message: "expected KEY=VALUE, got '\(line)'")
            }
            let key = String(line[..<eq]).trimmingSpaces
            let value = String(line[line.index(after: eq)...]).trimmingSpaces
            if section.isEmpty {
                throw ConfigError(file: file, line: lineNo, message: "assignment '\(key)' outside of any section")
            }
            try assign(section: section, key: key, value: value, file: file, line: lineNo)
        }
    }

    private mutating func assign(section: String, key: String, value: String, file: String, line: Int) throws(ConfigError) {
        func bad(_ what: String) -> ConfigError {
            ConfigError(file: file, line: line, message: "bad value for \(key)= in [\(section)]: '\(value)' (\(what))")
        }
        func span() throws(ConfigError) -> TimeSpan {
            guard let t = TimeSpan(parsing: value), t.microseconds > 0 else { throw bad("expected a time span such as 30s, 5min, 1h 30s") }
            // Every wait must end, and soon enough to matter: each key has a ceiling (ConfigBounds).
            let limit = ConfigBounds.maximum(section: section, key: key)
            guard t <= limit else { throw bad("more than the maximum \(limit)") }
            return t
        }
        func count(_ range: ClosedRange<Int>) throws(ConfigError) -> Int {
            guard let n = Int(value), range.contains(n) else { throw bad("expected a number \(range.lowerBound)..\(range.upperBound)") }
            return n
        }
        func bool() throws(ConfigError) -> Bool {
            switch value.lowercased() {
            case "1", "yes", "true", "on": return true
            case "0", "no", "false", "off": return false
            default: throw bad("expected yes or no")
            }
        }
        switch (section, key) {
        case ("Checks", "Timeout"): checkTimeout = try span()
        case ("Checks", "TotalTimeout"): totalTimeout = try span()
        case ("Boot", "StartupTimeout"): startupTimeout = try span()
        case ("Boot", "MaxAttempts"): maxAttempts = try count(ConfigBounds.maxAttempts)
        case ("Checks", "Parallelism"): parallelism = try count(ConfigBounds.parallelism)
        case ("Boot", "GracePeriod"): gracePeriod = try span()
        case ("Boot", "RebootOnFailure"): rebootOnFailure = try bool()
        case ("Boot", "RebootLimitBurst"): rebootLimitBurst = try count(ConfigBounds.rebootLimitBurst)
        case ("Boot", "RebootLimitInterval"): rebootLimitInterval = try span()
        case ("Boot", "Counter"):
            guard let c = CounterChoice(rawValue: value) else { throw bad("expected auto, bls, grubenv, software or none") }
            counter = c
        case ("Boot", "UnitTimeout"): defaultUnitTimeout = try span()
        case ("Boot", "RequiredUnits"):
            if value.isEmpty { units.removeAll(); return }
            for name in value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) {
                guard Self.isUnitName(name) else { throw bad("'\(name)' is not a unit name") }
                if !units.contains(where: { $0.name == name }) { units.append(RequiredUnit(name: name, timeout: defaultUnitTimeout)) }
                guard units.count <= ConfigBounds.units else { throw bad("more than \(ConfigBounds.units) required units") }
            }
        case (let s, "Timeout") where s.hasPrefix("Unit:"):
            let name = String(s.dropFirst(5))
            let t = try span()
            if let i = units.firstIndex(where: { $0.name == name }) { units[i].timeout = t }
        default:
            warnings.append(SafeText.escape("\(file):\(line): unknown key \(key)= in [\(section)], ignored"))
        }
    }

    /// A unit name as systemd accepts it, conservatively: no slashes, a known suffix.
    static func isUnitName(_ s: String) -> Bool {
        guard !s.isEmpty, s.count < 256, !s.contains("/"), let dot = s.lastIndex(of: ".") else { return false }
        let suffix = s[s.index(after: dot)...]
        return ["service", "socket", "target", "mount", "device", "timer", "path", "swap", "scope", "slice", "automount"].contains(String(suffix))
            && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ":-_.\\@".contains($0)) }
    }
}

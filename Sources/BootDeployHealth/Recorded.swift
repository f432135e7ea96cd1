/// A field of the status record (or of a report built from it) whose values come from a fixed
/// vocabulary: one this boot-health knows, or the string another one wrote.
///
/// The record outlives the deployment that wrote it: after a rollback an older boot-health reads
/// what a newer one wrote. A value it does not know is kept as written, not refused (refusing
/// would stop health checking on the very deployment rolled back to), and written back unchanged,
/// so the JSON is byte for byte what plain strings gave.
public enum Recorded<Known: RawRepresentable & Sendable & Hashable>: Codable, Sendable, Hashable, CustomStringConvertible
where Known.RawValue == String {
    case known(Known)
    case unrecognized(String)

    public init(_ value: Known) { self = .known(value) }
    public init(rawValue: String) { self = Known(rawValue: rawValue).map { .known($0) } ?? .unrecognized(rawValue) }

    public var rawValue: String {
        switch self {
        case .known(let k): return k.rawValue
        case .unrecognized(let s): return s
        }
    }
    /// The value, when this boot-health knows it.
    public var value: Known? { if case .known(let k) = self { return k } else { return nil } }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public static func == (a: Recorded, b: Known) -> Bool { a.value == b }
    public static func != (a: Recorded, b: Known) -> Bool { a.value != b }
}

/// The boot counter a record names (`BootCounting`'s backends; `none`: nothing counts).
public enum CounterKind: String, Sendable, Hashable, CaseIterable { case bls, grubenv, software, none }

/// What a run decided (`RunRecord.decision`).
public enum RunDecision: String, Sendable, Hashable, CaseIterable {
    case blessed
    case markedBad = "marked-bad"
    /// The check phase (or the watch phase) changed nothing.
    case none
    case degraded
    /// The booted deployment could not be identified: nothing judged.
    case notJudged = "not-judged"
}

/// Who made a decision in the history.
public enum DecidedBy: String, Sendable, Hashable, CaseIterable {
    /// boot-health run (the units).
    case service
    /// mark-good / mark-bad by hand.
    case manual
}

/// A required unit's outcome (`UnitResult.result`).
public enum UnitOutcome: String, Sendable, Hashable, CaseIterable { case passed, failed, timeout }

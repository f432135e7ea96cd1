import BootDeploySystem

/// The boot counter the BootDeploy boot script keeps on the boot partition: which deployment is on
/// trial and how many tries it has left. Both U-Boot (the script, with `env export -t` and
/// `fatwrite`/`ext4write`, which cannot rename) and Linux (deploy arms it, boot-health blesses and
/// marks bad) write it, so it is kept in two copies, `bdcount.a` and `bdcount.b`, each a small
/// `env import -t` text:
///
///     bdc_left=2
///     bdc_seq=1
///     bdc_trial=os/002
///     bdc_zend=1
///
/// The names sort in that order because `env export -t` writes variables sorted by name; the last
/// line repeats the sequence, so a copy cut short (a torn write) is recognised as invalid. The
/// sequence counts 0, 1, 2, 0, ... (U-Boot has no arithmetic here, only if/elif chains): of two
/// valid copies the newer is the one whose sequence follows the other's. A writer always overwrites
/// the older copy (or an invalid one) with the successor of the newer one, so a write cut at any
/// instant leaves the other copy valid and the state of before the write.
public struct UBootCounter: Sendable, Equatable {
    /// The deployment on trial (`STATEROOT/ID`), nil when none is counted.
    public var trial: String?
    /// Its tries left, 0...9.
    public var left: Int
    /// The sequence of the copy this was read from (0, 1 or 2).
    public var sequence: Int

    public init(trial: String?, left: Int, sequence: Int = 0) {
        self.trial = trial
        self.left = left
        self.sequence = sequence
    }

    public static let files = ["bdcount.a", "bdcount.b"]
    public static let maxLeft = 9

    static func next(_ s: Int) -> Int { (s + 1) % 3 }

    /// One copy's text, as `env export -t` writes it (sorted names, one per line).
    public func render() -> String {
        "bdc_left=\(left)\nbdc_seq=\(sequence)\nbdc_trial=\(trial ?? "-")\nbdc_zend=\(sequence)\n"
    }

    /// One copy, or nil when it is torn, garbled or out of range (U-Boot's script applies the same
    /// rules). Trailing NUL bytes (`env export -t` may end its text with one) are ignored.
    public static func parse(_ bytes: [UInt8]) -> UBootCounter? {
        var b = bytes
        while b.last == 0 { b.removeLast() }
        guard !b.contains(0), let text = String(validating: b, as: UTF8.self) else { return nil }
        var values: [String: String] = [:]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else { return nil }
            let key = String(line[..<eq])
            guard values[key] == nil else { return nil }
            values[key] = String(line[line.index(after: eq)...])
        }
        guard values.count == 4, let seqText = values["bdc_seq"], let seq = Int(seqText), (0...2).contains(seq),
              values["bdc_zend"] == seqText,
              let leftText = values["bdc_left"], leftText.count == 1, let left = Int(leftText), (0...maxLeft).contains(left),
              let trial = values["bdc_trial"], !trial.isEmpty, !trial.contains(" ")
        else { return nil }
        return UBootCounter(trial: trial == "-" ? nil : trial, left: left, sequence: seq)
    }

    /// The newer of two copies (nil = missing or invalid), and the slot (0 = a, 1 = b) to write next.
    public static func choose(_ a: UBootCounter?, _ b: UBootCounter?) -> (current: UBootCounter?, writeSlot: Int) {
        switch (a, b) {
        case let (a?, b?): return b.sequence == next(a.sequence) ? (b, 0) : (a, 1)
        case let (a?, nil): return (a, 1)
        case let (nil, b?): return (b, 0)
        case (nil, nil): return (nil, 0)
        }
    }

    /// Reads both copies in `dir`.
    public static func read(_ dir: Directory) -> (current: UBootCounter?, writeSlot: Int) {
        let copies = files.map { f -> UBootCounter? in
            guard dir.exists(f), let bytes = try? dir.readFile(f, limit: 4096) else { return nil }
            return parse(bytes)
        }
        return choose(copies[0], copies[1])
    }

    /// Writes `state` as the successor of the current copy into the older slot, replaced whole
    /// (tmp + fsync + rename: Linux can rename, U-Boot cannot and writes in place), then flushes.
    @discardableResult
    public static func write(_ dir: Directory, trial: String?, left: Int) throws(SystemError) -> UBootCounter {
        let (cur, slot) = read(dir)
        let state = UBootCounter(trial: trial, left: max(0, min(left, maxLeft)), sequence: cur.map { next($0.sequence) } ?? 0)
        try dir.replaceFile(files[slot], Array(state.render().utf8))
        return state
    }
}

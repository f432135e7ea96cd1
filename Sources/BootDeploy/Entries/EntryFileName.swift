/// The boot counter of an entry file name, `+LEFT-DONE` (Automatic Boot Assessment).
///
/// `left` is how many more times the boot loader will try the entry before it gives up on it;
/// `done` is how many tries have been used. Both are at most `Int32.max`, the limit systemd-boot
/// and bootctl accept.
public struct BootCounter: Sendable, Hashable {
    public var left: Int
    public var done: Int

    public init(left: Int, done: Int) {
        self.left = left
        self.done = done
    }

    /// The largest value either counter may have (systemd's `INT_MAX`).
    public static let maximum = Int(Int32.max)
}

/// What a boot counter says about an entry, in systemd-bless-boot's words.
///
/// - `good`: no counter; the entry is blessed (or never took part in boot counting).
/// - `indeterminate`: a counter with tries left; boot health has not been decided yet.
/// - `bad`: a counter with no tries left; the boot loader sorts it last and boots it only when
///   nothing else is left.
public enum EntryState: String, Sendable, Codable {
    case good, indeterminate, bad
}

/// A Type #1 entry file name, split into the entry's identity and its boot counter, the way
/// systemd-boot 252 reads it (it is the program that counts, so its reading is the one that
/// matters for renames).
///
/// Grammar: `ID[+LEFT[-DONE]].conf`.
/// - The name must end in `.conf`, compared without regard to case (`x.CONF` is an entry for both
///   systemd-boot and bootctl, and the counter in `a+3.CONF` counts: the VM oracle test saw
///   systemd-boot 252 sort `z+0-2.CONF` last as exhausted and rename `y+3.CONF` to `y+2-1.conf`,
///   writing the suffix in lower case).
/// - The counter starts at the **last** `+`. `LEFT` and `DONE` are one or more ASCII digits
///   (leading zeros allowed), each at most 2147483647; a missing `-DONE` means 0.
/// - The counter must end exactly at the suffix. Anything else after the last `+` (`a+x.conf`,
///   `a+1-.conf`, `a+-1.conf`, `a+1 .conf`, a number above the limit) is no counter at all: the
///   whole `+...` part belongs to the id (bootctl refuses the entry instead when a number is above
///   the limit; see `BootctlName`).
///
/// `id` is the name without counter and without the suffix. bootctl 252 prints its `id` field as
/// the name without counter but *with* the suffix as spelled, i.e. `id + suffix`
/// (`a+2-1.conf` → `"id": "a.conf"`); the oracle test checks this for every entry bootctl lists.
///
/// The original spelling of the counter is kept, so `fileName` gives back exactly the name that
/// was parsed (`a+03.conf` stays `a+03.conf`) until the counter is changed.
public struct EntryFileName: Sendable, Hashable, CustomStringConvertible {
    /// The name without counter and without `.conf`.
    public var id: String
    /// The boot counter, or nil when the name carries none.
    public var counter: BootCounter?
    /// The suffix as spelled in the file name (`.conf`, or `.CONF` and the like for foreign files).
    public var suffix: String

    /// The counter text as found on disk, valid while `counter` still holds what was parsed.
    private var spelled: Spelled?

    private struct Spelled: Sendable, Hashable {
        var counter: BootCounter
        var text: String   // including the leading "+"
    }

    /// Parses a file name; nil when it is not `*.conf` (any case) or is not a single path component.
    public init?(_ fileName: String) {
        let bytes = Array(fileName.utf8)
        guard bytes.count >= 5, !bytes.contains(0), !bytes.contains(UInt8(ascii: "/")) else { return nil }
        let suffixBytes = Array(bytes[(bytes.count - 5)...])
        guard suffixBytes.map(asciiLower) == Array(".conf".utf8) else { return nil }
        let stem = Array(bytes[..<(bytes.count - 5)])
        suffix = String(decoding: suffixBytes, as: UTF8.self)
        id = String(decoding: stem, as: UTF8.self)
        counter = nil
        spelled = nil

        guard let plus = stem.lastIndex(of: UInt8(ascii: "+")) else { return }
        let tail = stem[(plus + 1)...]
        guard let parsed = Self.parseCounter(tail) else { return }
        id = String(decoding: stem[..<plus], as: UTF8.self)
        counter = parsed
        spelled = Spelled(counter: parsed, text: String(decoding: stem[plus...], as: UTF8.self))
    }

    /// A name from its parts, with the suffix `.conf`; the counter is written `+LEFT-DONE`.
    public init(id: String, counter: BootCounter?) {
        self.id = id
        self.counter = counter
        self.suffix = ".conf"
        self.spelled = nil
    }

    /// The file name, rendered back: the original spelling while the counter is unchanged,
    /// otherwise `ID+LEFT-DONE.conf`.
    public var fileName: String {
        guard let counter else { return id + suffix }
        if let spelled, spelled.counter == counter { return id + spelled.text + suffix }
        return id + "+\(counter.left)-\(counter.done)" + suffix
    }

    public var description: String { fileName }

    /// Two names are equal when they have the same parts and the same spelling on disk; how a
    /// value came about (parsed or built) does not matter.
    public static func == (a: EntryFileName, b: EntryFileName) -> Bool {
        a.id == b.id && a.counter == b.counter && a.suffix == b.suffix && a.fileName == b.fileName
    }

    public func hash(into h: inout Hasher) {
        h.combine(id)
        h.combine(counter)
        h.combine(suffix)
        h.combine(fileName)
    }

    /// good without a counter, bad with no tries left, indeterminate otherwise.
    public var state: EntryState {
        guard let counter else { return .good }
        return counter.left == 0 ? .bad : .indeterminate
    }

    /// The name systemd-boot 252 gives the file when it boots this entry (it renames before it
    /// starts the kernel). Without a counter nothing changes. Otherwise `+L-D` becomes
    /// `+(L-1)-(D+1)`, always written with both numbers and a lower-case `.conf`
    /// (`a+3.conf` → `a+2-1.conf`, `y+3.CONF` → `y+2-1.conf`). An exhausted
    /// entry is still renamed when it is booted anyway: `LEFT` stays 0 and `DONE` grows
    /// (`a+0-3.conf` → `a+0-4.conf`; systemd-boot's `next_name` uses a floor-at-zero subtraction and
    /// renames whenever a counter is present, and MACHINE-FACTS.md saw exactly this in a VM).
    /// `DONE` stops at 2147483647.
    public func afterBootAttempt() -> EntryFileName {
        guard let counter else { return self }
        var next = self
        next.counter = BootCounter(left: max(counter.left - 1, 0),
                                   done: min(counter.done + 1, BootCounter.maximum))
        next.suffix = ".conf"
        next.spelled = nil
        return next
    }

    /// The name systemd-bless-boot gives a good boot: the counter is dropped, the rest kept.
    public func blessed() -> EntryFileName {
        var next = self
        next.counter = nil
        next.spelled = nil
        return next
    }

    /// The name systemd-bless-boot gives a bad boot: no tries left, `DONE` kept. Like bless-boot,
    /// a `DONE` of 0 is written as `+0`, otherwise `+0-DONE`. A name without a counter (bless-boot
    /// refuses those) becomes `ID+0.conf`, which the boot loader reads as bad as well.
    public func markedBad() -> EntryFileName {
        var next = self
        let done = counter?.done ?? 0
        let bad = BootCounter(left: 0, done: done)
        next.counter = bad
        next.spelled = Spelled(counter: bad, text: done == 0 ? "+0" : "+0-\(done)")
        return next
    }

    /// A fresh counted name `ID+N-0.conf` for `tries` boot attempts, N clamped to 1...9 so that
    /// every rename the boot loader performs keeps the name's length (one digit each side).
    /// `tries` of 0 or less gives a name without a counter: the entry is not boot-counted.
    public static func withNewCounter(id: String, tries: Int) -> EntryFileName {
        guard tries > 0 else { return EntryFileName(id: id, counter: nil) }
        return EntryFileName(id: id, counter: BootCounter(left: min(tries, 9), done: 0))
    }

    // MARK: Grammar helpers

    /// `LEFT[-DONE]` with nothing after it, both within the limit; nil otherwise.
    static func parseCounter(_ tail: ArraySlice<UInt8>) -> BootCounter? {
        var i = tail.startIndex
        guard let left = digits(tail, &i) else { return nil }
        var done = 0
        if i < tail.endIndex && tail[i] == UInt8(ascii: "-") {
            i += 1
            guard let d = digits(tail, &i) else { return nil }
            done = d
        }
        guard i == tail.endIndex else { return nil }
        return BootCounter(left: left, done: done)
    }

    /// One or more ASCII digits at `i`, advancing past them; nil when there are none or the value
    /// exceeds `BootCounter.maximum`.
    static func digits(_ s: ArraySlice<UInt8>, _ i: inout Int) -> Int? {
        let start = i
        var value = 0
        var tooBig = false
        while i < s.endIndex, s[i] >= UInt8(ascii: "0"), s[i] <= UInt8(ascii: "9") {
            if !tooBig {
                value = value * 10 + Int(s[i] - UInt8(ascii: "0"))
                if value > BootCounter.maximum { tooBig = true }
            }
            i += 1
        }
        guard i > start, !tooBig else { return nil }
        return value
    }
}

/// How bootctl 252 (`bootctl list`) reads an entry file name. For `*.conf` names it finds the same
/// counter as systemd-boot (`EntryFileName`), and differs in two ways, both seen on this machine:
/// - a counter above 2147483647 makes bootctl refuse the whole entry ("Failed to parse tries
///   counter"), where systemd-boot just sees no counter;
/// - the name without its counter must consist of `[A-Za-z0-9+_.-]` only and be a valid file name,
///   or bootctl refuses the entry ("Invalid loader entry name"); systemd-boot has no such rule.
public struct BootctlName: Sendable, Hashable {
    /// What bootctl prints as `id`: the file name with the counter removed, suffix kept.
    public var id: String
    /// `triesLeft`, when the name has a counter.
    public var triesLeft: Int?
    /// `triesDone`, only when the counter spells out `-DONE` (bootctl omits it for `+LEFT`).
    public var triesDone: Int?

    /// bootctl's reading of `fileName`, or nil when bootctl would not list the entry.
    public init?(_ fileName: String) {
        let bytes = Array(fileName.utf8)
        var id = bytes
        var left: Int?, done: Int?
        if let dot = bytes.lastIndex(of: UInt8(ascii: ".")),
           let plus = bytes[..<dot].lastIndex(of: UInt8(ascii: "+")) {
            let tail = bytes[(plus + 1)..<dot]
            var i = tail.startIndex
            switch Self.number(tail, &i) {
            case .overflow: return nil
            case .none: break
            case .value(let l):
                var complete = true
                if i < tail.endIndex && tail[i] == UInt8(ascii: "-") {
                    i += 1
                    switch Self.number(tail, &i) {
                    case .overflow: return nil
                    case .none: complete = false
                    case .value(let d): done = d
                    }
                }
                if complete && i == tail.endIndex {
                    left = l
                    id = Array(bytes[..<plus]) + Array(bytes[dot...])
                } else {
                    done = nil
                }
            }
        }
        // efi_loader_entry_name_valid(): a file name of allowed characters only.
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_.".utf8)
        guard !id.isEmpty, id.count <= 255, id != Array(".".utf8), id != Array("..".utf8),
              id.allSatisfy(allowed.contains) else { return nil }
        guard id.count >= 5, id[(id.count - 5)...].map(asciiLower) == Array(".conf".utf8) else { return nil }
        self.id = String(decoding: id, as: UTF8.self)
        self.triesLeft = left
        self.triesDone = left == nil ? nil : done
    }

    private enum Number { case none, value(Int), overflow }

    private static func number(_ s: ArraySlice<UInt8>, _ i: inout Int) -> Number {
        let start = i
        var value = 0
        var tooBig = false
        while i < s.endIndex, s[i] >= UInt8(ascii: "0"), s[i] <= UInt8(ascii: "9") {
            if !tooBig {
                value = value * 10 + Int(s[i] - UInt8(ascii: "0"))
                if value > BootCounter.maximum { tooBig = true }
            }
            i += 1
        }
        if i == start { return .none }
        return tooBig ? .overflow : .value(value)
    }
}

@inline(__always)
func asciiLower(_ c: UInt8) -> UInt8 {
    (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) ? c + 32 : c
}

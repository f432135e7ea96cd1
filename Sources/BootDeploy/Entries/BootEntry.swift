/// A malformed entry file: which file, which line (1-based; 0 when the file as a whole is at
/// fault, e.g. it cannot be read), and what is wrong. Printed as `FILE:LINE: message`.
public struct EntryParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// One Boot Loader Specification Type #1 entry (`$BOOT/loader/entries/*.conf`), every key the
/// specification defines plus whatever else the file holds.
///
/// Values are kept as written in the file (after the whitespace around them is removed), which is
/// how bootctl reports them. systemd-boot additionally drops one pair of double quotes around a
/// whole value (`title "x"` shows as `x`); `BootOrder.systemdBoot` applies that where it matters.
///
/// Reading rules (`parse`), where systemd-boot 252 and bootctl 252 agree:
/// - Lines end at LF, CR LF, or a lone CR. Blanks (space, tab) around a line are ignored. A line
///   whose first non-blank character is `#` is a comment; empty lines are skipped.
/// - The key runs to the first space or tab; the value is the rest after any further blanks, inner
///   blanks kept (`options  a  b ` → `a  b`). Keys are case-sensitive (`Title` is not `title`).
/// - A line with a key and no value is ignored by both loaders; a known key without value is
///   therefore dropped, an unknown one is kept in `unknown` with an empty value.
/// - A repeated single-valued key: the last one wins (both loaders overwrite).
/// - `initrd` and `options` may repeat and keep their order; the kernel command line is all
///   `options` values joined by one space. `devicetree-overlay` values are split at blanks and
///   the pieces collected, as bootctl does.
/// - Unknown keys are kept, in order, and written back unchanged by `render`.
/// - Keys are taken literally, as systemd-boot takes them; bootctl alone would read a backslash in
///   a key as an escape (`ti\tle` as `title`), which no real entry relies on.
///
/// Where the file is outright broken the loaders disagree, so we refuse it with an error naming the
/// file and line: invalid UTF-8 (bootctl 252 aborts its JSON output on it), a NUL byte (bootctl
/// treats it as a line break, systemd-boot as the end of the file), a line over 1 MiB (bootctl
/// refuses the entry, "Line too long").
public struct BootEntry: Sendable, Equatable {
    public var title: String?
    public var version: String?
    /// `machine-id`
    public var machineID: String?
    /// `sort-key`
    public var sortKey: String?
    public var linux: String?
    public var efi: String?
    public var initrd: [String]
    public var options: [String]
    public var devicetree: String?
    /// `devicetree-overlay`
    public var devicetreeOverlay: [String]
    public var architecture: String?
    /// Keys this model does not interpret, in file order, with their values exactly as read.
    public var unknown: [(key: String, value: String)]

    public init() {
        initrd = []
        options = []
        devicetreeOverlay = []
        unknown = []
    }

    /// The longest line accepted, bootctl's `LONG_LINE_MAX`.
    public static let maximumLineLength = 1 << 20

    /// The kernel command line the boot loader passes: all `options` values joined by one space.
    public var commandLine: String { options.joined(separator: " ") }

    public static func == (a: BootEntry, b: BootEntry) -> Bool {
        a.title == b.title && a.version == b.version && a.machineID == b.machineID
            && a.sortKey == b.sortKey && a.linux == b.linux && a.efi == b.efi
            && a.initrd == b.initrd && a.options == b.options && a.devicetree == b.devicetree
            && a.devicetreeOverlay == b.devicetreeOverlay && a.architecture == b.architecture
            && a.unknown.count == b.unknown.count
            && zip(a.unknown, b.unknown).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    // MARK: Parsing

    /// Parses the text of an entry file. `file` names it in diagnostics.
    public static func parse(_ text: String, file: String) throws(EntryParseError) -> BootEntry {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// Parses the raw bytes of an entry file, checking that they are UTF-8 line by line so that
    /// the error can name the line.
    public static func parse(bytes: [UInt8], file: String) throws(EntryParseError) -> BootEntry {
        var entry = BootEntry()
        var lineNumber = 0
        var start = 0
        let n = bytes.count
        while start < n {
            lineNumber += 1
            var end = start
            while end < n && bytes[end] != 0x0A && bytes[end] != 0x0D { end += 1 }
            var next = end
            if next < n {
                next += (bytes[next] == 0x0D && next + 1 < n && bytes[next + 1] == 0x0A) ? 2 : 1
            }
            defer { start = next }

            if end - start > maximumLineLength {
                throw EntryParseError(file: file, line: lineNumber,
                                      message: "line too long (\(end - start) bytes, at most \(maximumLineLength))")
            }
            let line = bytes[start..<end]
            if let nul = line.firstIndex(of: 0) {
                throw EntryParseError(file: file, line: lineNumber,
                                      message: "NUL byte at column \(nul - start + 1)")
            }
            if let bad = firstInvalidUTF8(line) {
                throw EntryParseError(file: file, line: lineNumber,
                                      message: "invalid UTF-8 at column \(bad - start + 1)")
            }
            entry.take(line)
        }
        return entry
    }

    /// Applies one physical line (no line break in it, known to be valid UTF-8).
    private mutating func take(_ raw: ArraySlice<UInt8>) {
        var lo = raw.startIndex, hi = raw.endIndex
        while lo < hi && isBlank(raw[lo]) { lo += 1 }
        while hi > lo && isBlank(raw[hi - 1]) { hi -= 1 }
        if lo == hi || raw[lo] == UInt8(ascii: "#") { return }

        var keyEnd = lo
        while keyEnd < hi && !isBlank(raw[keyEnd]) { keyEnd += 1 }
        let key = String(decoding: raw[lo..<keyEnd], as: UTF8.self)
        var valueStart = keyEnd
        while valueStart < hi && isBlank(raw[valueStart]) { valueStart += 1 }
        let value = String(decoding: raw[valueStart..<hi], as: UTF8.self)

        if value.isEmpty {
            // Both loaders ignore a key without a value; keep only what we do not understand.
            if !Self.knownKeys.contains(key) { unknown.append((key: key, value: "")) }
            return
        }
        switch key {
        case "title": title = value
        case "version": version = value
        case "machine-id": machineID = value
        case "sort-key": sortKey = value
        case "linux": linux = value
        case "efi": efi = value
        case "initrd": initrd.append(value)
        case "options": options.append(value)
        case "devicetree": devicetree = value
        case "devicetree-overlay":
            devicetreeOverlay += value.utf8.split(whereSeparator: isBlank).map { String(decoding: $0, as: UTF8.self) }
        case "architecture": architecture = value
        default: unknown.append((key: key, value: value))
        }
    }

    static let knownKeys: Set<String> = [
        "title", "version", "machine-id", "sort-key", "linux", "efi", "initrd", "options",
        "devicetree", "devicetree-overlay", "architecture",
    ]

    // MARK: Rendering

    /// The entry as file text: one `key value` line per value, in a fixed order (title, version,
    /// machine-id, sort-key, linux, efi, initrd..., options..., devicetree, devicetree-overlay,
    /// architecture, then unknown keys in their original order), each ending in LF.
    ///
    /// What `parse` reads back is this entry, provided its values are ones a file can hold: a
    /// value is written on one line, so CR, LF and NUL inside it become spaces and blanks around it
    /// are lost; an empty value is left out (the loaders ignore a key without value), except for
    /// unknown keys, which are written as the bare key. Unknown keys that could not have come from
    /// a file (empty, containing blanks or line breaks, or starting with `#`) are left out.
    public func render() -> String {
        var out = ""
        func line(_ key: String, _ value: String?) {
            guard let value else { return }
            let clean = Self.oneLine(value)
            guard !clean.isEmpty else { return }
            out += key + " " + clean + "\n"
        }
        line("title", title)
        line("version", version)
        line("machine-id", machineID)
        line("sort-key", sortKey)
        line("linux", linux)
        line("efi", efi)
        for v in initrd { line("initrd", v) }
        for v in options { line("options", v) }
        line("devicetree", devicetree)
        line("devicetree-overlay", devicetreeOverlay.isEmpty ? nil : devicetreeOverlay.joined(separator: " "))
        line("architecture", architecture)
        for (key, value) in unknown {
            guard Self.isWritableKey(key) else { continue }
            let clean = Self.oneLine(value)
            out += clean.isEmpty ? key + "\n" : key + " " + clean + "\n"
        }
        return out
    }

    /// A value as it survives one line of a file: line breaks and NULs become spaces, and the
    /// blanks a reader strips are stripped.
    static func oneLine(_ value: String) -> String {
        var bytes = Array(value.utf8).map { ($0 == 0x0A || $0 == 0x0D || $0 == 0) ? UInt8(ascii: " ") : $0 }
        while let last = bytes.last, isBlank(last) { bytes.removeLast() }
        let first = bytes.firstIndex { !isBlank($0) } ?? bytes.endIndex
        bytes.removeFirst(first)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isWritableKey(_ key: String) -> Bool {
        let k = Array(key.utf8)
        return !k.isEmpty && k[0] != UInt8(ascii: "#")
            && !k.contains { isBlank($0) || $0 == 0x0A || $0 == 0x0D || $0 == 0 }
    }

    // MARK: What the boot loaders make of values

    /// A value as systemd-boot uses it: one pair of double quotes around the whole value removed
    /// (its `line_get_key_value()` does this for every key).
    public static func systemdBootValue(_ value: String) -> String {
        let b = Array(value.utf8)
        guard let first = b.first, first == UInt8(ascii: "\""), b.last == UInt8(ascii: "\"") else { return value }
        return b.count == 1 ? "" : String(decoding: b[1..<(b.count - 1)], as: UTF8.self)
    }

    /// A path value (`linux`, `efi`, `initrd`, `devicetree`, `devicetree-overlay`) as bootctl 252
    /// reports it, or nil when bootctl ignores it: made absolute, repeated `/` and `.` components
    /// collapsed; refused when it ends in `/` or contains a `..` component.
    public static func bootctlPath(_ value: String) -> String? {
        let absolute = value.hasPrefix("/") ? value : "/" + value
        if absolute.hasSuffix("/") { return nil }
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { return nil }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }
}

@inline(__always)
func isBlank(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") }

/// The index of the first byte that does not belong to a well-formed UTF-8 sequence, if any.
func firstInvalidUTF8(_ s: ArraySlice<UInt8>) -> Int? {
    var i = s.startIndex
    let end = s.endIndex
    while i < end {
        let b = s[i]
        if b < 0x80 { i += 1; continue }
        let need: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch b {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F          // no UTF-16 surrogates
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F          // nothing above U+10FFFF
        default: return i
        }
        guard end - i > need else { return i }
        if s[i + 1] < lo || s[i + 1] > hi { return i }
        if need >= 2 {
            for k in 2...need where s[i + k] < 0x80 || s[i + k] > 0xBF { return i }
        }
        i += need + 1
    }
    return nil
}

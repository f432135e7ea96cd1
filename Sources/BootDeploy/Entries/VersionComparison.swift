/// Compares two version strings the way the UAPI "Version Format Specification" defines it, which is
/// what systemd calls `strverscmp_improved()` and what systemd-boot, bootctl and
/// `systemd-analyze compare-versions` use to order boot entries.
///
/// Returns a negative number when `a` is older than `b`, 0 when they are equivalent, a positive
/// number when `a` is newer. Equivalent does not mean equal: characters outside
/// `[A-Za-z0-9.~^-]` are ignored (`1_` == `1`), and so are leading zeros (`01` == `1`).
///
/// This is the comparison of systemd 252, the version this project targets and tests against
/// (`systemd-analyze compare-versions` on this machine agrees with it for every case in the tests).
/// One corner differs from the specification's own example list and from later systemd releases:
/// 252 has no special case for the empty string, so `""` is newer than `"~"` (a `~` segment is older
/// than anything, even the end of a string), while the spec lists `'' < ~`. Boot entries never have
/// an empty version, so this corner does not change any boot order.
public func compareVersions(_ a: String, _ b: String) -> Int {
    VersionOrder.compare(Array(a.utf8), Array(b.utf8))
}

/// The algorithm behind `compareVersions`, over any array of code units, so that the boot loader's
/// UTF-16 strings and userspace's UTF-8 strings share one implementation. Only ASCII code units carry
/// meaning, and they are the same in both encodings, so the result does not depend on the encoding.
enum VersionOrder {
    /// A missing field compares like the empty string: bootctl 252 puts an entry without `version`
    /// after one with `version 0` but before one with `version ~`, and level with `version _`.
    static func compare(_ a: String?, _ b: String?) -> Int {
        compareVersions(a ?? "", b ?? "")
    }

    static func compare<C: FixedWidthInteger>(_ a: [C], _ b: [C]) -> Int {
        var i = 0, j = 0
        // The arrays are treated as NUL-terminated strings: reading past the end gives 0.
        func at(_ s: [C], _ k: Int) -> UInt32 { k < s.count ? UInt32(truncatingIfNeeded: s[k]) : 0 }

        while true {
            while i < a.count && !isVersionChar(at(a, i)) { i += 1 }
            while j < b.count && !isVersionChar(at(b, j)) { j += 1 }

            // A '~' segment is older than anything, even the end of the string.
            let ta = at(a, i) == tilde, tb = at(b, j) == tilde
            if ta || tb {
                if ta != tb { return ta ? -1 : 1 }
                i += 1; j += 1
            }

            // One string ended: the one with more left is newer.
            let ca = at(a, i), cb = at(b, j)
            if ca == 0 || cb == 0 { return sign(Int(ca) - Int(cb)) }

            // '-', then '^', then '.': where only one side has the separator, that side is older.
            // ('^' still sorts above the end of a string and above '-', because those were
            // decided by the checks before it.)
            for sep in [minus, caret, dot] {
                let sa = at(a, i) == sep, sb = at(b, j) == sep
                if sa || sb {
                    if sa != sb { return sa ? -1 : 1 }
                    i += 1; j += 1
                }
            }

            if isDigit(at(a, i)) || isDigit(at(b, j)) {
                var ea = i, eb = j
                while isDigit(at(a, ea)) { ea += 1 }
                while isDigit(at(b, eb)) { eb += 1 }
                // A number, even 0, is newer than no number (`0 > rc`, `1 > a`).
                if (ea > i) != (eb > j) { return ea > i ? 1 : -1 }
                while at(a, i) == zero { i += 1 }
                while at(b, j) == zero { j += 1 }
                // Without leading zeros, the longer number is the bigger one.
                if ea - i != eb - j { return sign((ea - i) - (eb - j)) }
                for k in 0..<(ea - i) where at(a, i + k) != at(b, j + k) {
                    return sign(Int(at(a, i + k)) - Int(at(b, j + k)))
                }
                i = ea; j = eb
            } else {
                var ea = i, eb = j
                while isAlpha(at(a, ea)) { ea += 1 }
                while isAlpha(at(b, eb)) { eb += 1 }
                for k in 0..<min(ea - i, eb - j) where at(a, i + k) != at(b, j + k) {
                    return sign(Int(at(a, i + k)) - Int(at(b, j + k)))
                }
                if ea - i != eb - j { return sign((ea - i) - (eb - j)) }
                i = ea; j = eb
            }
        }
    }

    private static let tilde = UInt32(UInt8(ascii: "~"))
    private static let minus = UInt32(UInt8(ascii: "-"))
    private static let caret = UInt32(UInt8(ascii: "^"))
    private static let dot = UInt32(UInt8(ascii: "."))
    private static let zero = UInt32(UInt8(ascii: "0"))

    private static func isDigit(_ c: UInt32) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isAlpha(_ c: UInt32) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
    private static func isVersionChar(_ c: UInt32) -> Bool {
        isDigit(c) || isAlpha(c) || c == tilde || c == minus || c == caret || c == dot
    }

    static func sign(_ v: Int) -> Int { v < 0 ? -1 : (v > 0 ? 1 : 0) }
}

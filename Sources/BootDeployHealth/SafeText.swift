/// The one rule for text that comes from outside boot-health (check output, check and file names,
/// config lines, the finalize stamp, entry names) before it is shown anywhere: on a terminal, in a
/// journal field, in `STATUS=`, in status.json and the JSON output.
///
/// Every control character is replaced by a visible `\uXXXX` escape: C0 (U+0000-U+001F), DEL
/// (U+007F), C1 (U+0080-U+009F, which some terminals take as CSI/OSC), and the invisible
/// formatting characters that reorder or hide text (bidirectional overrides and isolates, zero-width
/// characters, line/paragraph separators, BOM). Newline and tab are kept in multi-line text (check
/// output, a journal `MESSAGE=`) and escaped too in a one-line value (a name, a reason, a journal
/// field, `STATUS=`). Invalid UTF-8 has already become U+FFFD when the bytes were decoded.
///
/// The backslash itself is not escaped, so applying the rule twice changes nothing: it is applied
/// where text is captured and again where it is shown. `\uXXXX` is also a valid JSON escape, so a
/// JSON document passed through the rule stays valid JSON.
public enum SafeText {
    public enum Shape: Sendable { case multiLine, oneLine }

    public static func escape(_ text: String, _ shape: Shape = .oneLine) -> String {
        // Fast path: nothing to do for plain printable ASCII.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return text }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if needsEscape(u, shape) {
                let hex = String(u.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex).unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    /// Bytes from a process or a file, decoded (invalid UTF-8 becomes U+FFFD) and escaped.
    public static func escape(bytes: [UInt8], _ shape: Shape = .multiLine) -> String {
        escape(String(decoding: bytes, as: UTF8.self), shape)
    }

    static func needsEscape(_ u: Unicode.Scalar, _ shape: Shape) -> Bool {
        switch u.value {
        case 0x0A, 0x09: return shape == .oneLine
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069, 0xFEFF: return true
        default: return false
        }
    }
}

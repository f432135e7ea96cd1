import BootDeploySystem
import Glibc

/// The rule for text that reaches a boot menu, a terminal or a status document: a version or a
/// title, given on the command line or read from a tree's os-release. Control characters (C0,
/// DEL, C1) are refused: a newline would split an entry's line, an escape sequence would reach the
/// terminal of whoever runs `status`.
enum DisplayText {
    /// Why `s` cannot be shown, or nil when it can.
    static func problem(_ s: String) -> String? {
        if s.isEmpty { return "empty" }
        if s.utf8.count > 256 { return "longer than 256 bytes" }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }) {
            return "contains a control character (newline, tab, DEL, escape...)"
        }
        return nil
    }
}

/// `usr/lib/os-release` (or `etc/os-release`) of a tree, for the default version and title.
///
/// The file is the vendor's, and the values only label an entry, so a value that breaks the text
/// rule does not fail the deploy: it is left out (a warning says which and why) and the next
/// source takes its place (VERSION_ID, then VERSION, then "0"; PRETTY_NAME, then
/// "<stateroot> <version>"). --version and --title, typed by a person who can fix them, are refused
/// instead.
struct OSRelease {
    var values: [String: String] = [:]
    var warnings: [String] = []

    init(tree: Directory, treePath: String = "") {
        var text = ""
        var file = ""
        for candidate in ["usr/lib/os-release", "etc/os-release"] where tree.exists(candidate) {
            // Read within the tree only: openat2(RESOLVE_IN_ROOT) for the directory part.
            let dir = candidate.hasPrefix("usr/") ? "usr/lib" : "etc"
            if let d = try? tree.openDirectoryInRoot(dir), let t = try? d.readText("os-release") {
                text = t
                file = "\(treePath)/\(candidate)"
                break
            }
        }
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            let key = String(line[..<eq]).trimmingCharacters(in: " \t")
            var v = String(line[line.index(after: eq)...])
            if v.count >= 2, let f = v.first, f == "\"" || f == "'", v.last == f { v = String(v.dropFirst().dropLast()) }
            if ["VERSION_ID", "VERSION", "PRETTY_NAME"].contains(key), !v.isEmpty, let why = DisplayText.problem(v) {
                warnings.append("\(file): \(key) is not used: \(why)")
                continue
            }
            values[key] = v
        }
    }

    subscript(_ k: String) -> String? { values[k].flatMap { $0.isEmpty ? nil : $0 } }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// A warning of a command that goes on: one line on stderr.
func printWarning(_ message: String) {
    let line = "boot-deploy: warning: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

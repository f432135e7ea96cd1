import BootDeployEarlyBoot

/// The administrator's extra persistent binds for a stateroot (`layout.conf`), and the default
/// layout every deployment gets.
public enum LayoutConfig {
    /// Parses `layout.conf`: `bind SOURCE TARGET [ro]` lines, `#` comments.
    public static func parse(_ text: String, file: String, stateroot: String) throws(BootDeployError) -> [BindMount] {
        var out: [BindMount] = []
        for d in DirectiveLine.parse(text) {
            let lineNo = d.number, words = d.words
            guard words.first == "bind" else {
                throw .badInput(file: file, line: lineNo, message: "unknown directive \(quoted(words[0])); expected 'bind SOURCE TARGET [ro]'")
            }
            guard words.count == 3 || (words.count == 4 && (words[3] == "ro" || words[3] == "rw")) else {
                throw .badInput(file: file, line: lineNo, message: "expected 'bind SOURCE TARGET [ro]'")
            }
            let source = words[1], target = words[2]
            try checkRelative(source, file: file, line: lineNo)
            guard target.hasPrefix("/"), target != "/" else {
                throw .badInput(file: file, line: lineNo, message: "target \(quoted(target)) must be an absolute path below /")
            }
            try checkRelative(String(target.dropFirst()), file: file, line: lineNo)
            let reserved = ["/usr", "/var", "/sysroot", "/proc", "/sys", "/dev", "/run"]
            if reserved.contains(target) {
                throw .badInput(file: file, line: lineNo, message: "target \(target) is managed by bootdeploy itself")
            }
            out.append(BindMount(origin: .physical, source: "bootdeploy/\(stateroot)/\(source)", target: target,
                                 readOnly: words.count == 4 && words[3] == "ro", purpose: "admin"))
        }
        return out
    }

    static func checkRelative(_ path: String, file: String, line: Int) throws(BootDeployError) {
        if path.isEmpty || path.hasPrefix("/") {
            throw .badInput(file: file, line: line, message: "\(quoted(path)) must be a relative path")
        }
        for comp in path.split(separator: "/", omittingEmptySubsequences: false) {
            if comp.isEmpty || comp == "." || comp == ".." {
                throw .badInput(file: file, line: line, message: "\(quoted(path)): empty, '.' or '..' component")
            }
            if comp.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
                throw .badInput(file: file, line: line, message: "\(quoted(path)): control character")
            }
        }
    }

    /// The layout of a new deployment: physical root at /sysroot, the stateroot's var at /var,
    /// /usr read-only, then the administrator's binds.
    public static func defaultLayout(stateroot: String, id: String, extra: [BindMount]) -> MountLayout {
        MountLayout(root: "bootdeploy/\(stateroot)/deploy/\(id)", mounts: [
            BindMount(origin: .physical, source: "", target: "/sysroot", readOnly: false, purpose: "sysroot"),
            BindMount(origin: .physical, source: "bootdeploy/\(stateroot)/var", target: "/var", readOnly: false, purpose: "var"),
            BindMount(origin: .deployment, source: "usr", target: "/usr", readOnly: true, purpose: "usr"),
        ] + extra)
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

import BootDeployEarlyBoot
/// A Type #2 file name in `EFI/Linux/`: `ID[+LEFT[-DONE]].efi`, the counter read exactly as for a
/// Type #1 entry (`EntryFileName`): systemd-boot 252 parses and renames both the same way.
public struct UKIFileName: Sendable, Hashable, CustomStringConvertible {
    private var inner: EntryFileName
    /// The suffix as spelled (`.efi`, or `.EFI` for foreign files).
    public var suffix: String

    public var id: String { get { inner.id } set { inner.id = newValue } }
    public var counter: BootCounter? { get { inner.counter } set { inner.counter = newValue } }

    /// Parses a name; nil when it does not end in `.efi` (any case) or is not one path component.
    public init?(_ fileName: String) {
        let bytes = Array(fileName.utf8)
        guard bytes.count > 4 else { return nil }
        let suffixBytes = bytes[(bytes.count - 4)...]
        guard String(decoding: suffixBytes, as: UTF8.self).lowercased() == ".efi",
              let e = EntryFileName(String(decoding: bytes[..<(bytes.count - 4)], as: UTF8.self) + ".conf") else { return nil }
        inner = e
        suffix = String(decoding: suffixBytes, as: UTF8.self)
    }

    public init(id: String, counter: BootCounter?) {
        inner = EntryFileName(id: id, counter: counter)
        suffix = ".efi"
    }

    public var fileName: String { String(inner.fileName.dropLast(5)) + suffix }
    public var description: String { fileName }

    /// systemd-boot writes the renamed suffix in lower case, as for Type #1 (`.EFI` → `.efi`).
    public func afterBootAttempt() -> UKIFileName {
        var n = self
        n.inner = inner.afterBootAttempt()
        if n.counter != nil { n.suffix = ".efi" }
        return n
    }
    public func blessed() -> UKIFileName { var n = self; n.inner = inner.blessed(); return n }
    public func markedBad() -> UKIFileName { var n = self; n.inner = inner.markedBad(); return n }
}

/// The `.osrel` section of our UKIs.
///
/// systemd-boot 252 and bootctl take a Type #2 entry's sort key from `IMAGE_ID` (else `ID`) and its
/// version from `IMAGE_VERSION` (else `VERSION`, `VERSION_ID`, `BUILD_ID`). Ours carry
/// `IMAGE_ID=bootdeploy` and none of the version keys: every entry of ours then ties on both and is
/// ordered by its file name (`NameOrder`), so a reorder renames the image and never rebuilds or
/// re-signs it. The tree's `VERSION_ID` is kept as `BOOTDEPLOY_VERSION_ID`, for people.
public enum UKIOSRelease {
    /// Keys that would give the image a version of its own (and so a place outside the name order).
    public static let versionKeys = ["IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID"]

    /// `rank`: an `IMAGE_VERSION` (tests that show what systemd-boot does with a version); nil for
    /// every image `deploy` builds.
    public static func render(title: String, deployment: DeploymentName, rank: Int? = nil, treeOSRelease: [String: String] = [:]) -> String {
        var lines: [String] = []
        func add(_ k: String, _ v: String) { lines.append("\(k)=\(quote(v))") }
        add("PRETTY_NAME", "\(title) (\(deployment))")
        add("NAME", treeOSRelease["NAME"] ?? title)
        if let id = treeOSRelease["ID"] { add("ID", id) }
        if let v = treeOSRelease["VERSION_ID"] { add("BOOTDEPLOY_VERSION_ID", v) }
        add("IMAGE_ID", EntryRenderer.sortKey)
        if let rank { add("IMAGE_VERSION", String(rank)) }
        add("BOOTDEPLOY_DEPLOYMENT", deployment.description)
        return lines.joined(separator: "\n") + "\n"
    }

    /// os-release text as `KEY=value` pairs, quotes and backslash escapes removed; comments, blank
    /// and malformed lines skipped (what systemd-boot does with them).
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for raw in text.split(whereSeparator: { $0 == "\n" }) {
            let line = raw.trimmingSpaces()
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq])
            var v = Substring(line[line.index(after: eq)...])
            if let q = v.first, q == "\"" || q == "'", v.count >= 2, v.last == q { v = v.dropFirst().dropLast() }
            var value = "", escaped = false
            for c in v {
                if escaped { value.append(c); escaped = false } else if c == "\\" { escaped = true } else { value.append(c) }
            }
            if !key.isEmpty { out[key] = value }
        }
        return out
    }

    /// os-release quoting: double quotes, with `\`, `"`, `$` and backquote escaped.
    static func quote(_ v: String) -> String {
        var out = "\""
        for c in v {
            if c == "\\" || c == "\"" || c == "$" || c == "`" { out.append("\\") }
            if c == "\n" { out.append(" "); continue }
            out.append(c)
        }
        return out + "\""
    }
}

extension EntryFileName {
    /// A Type #1 entry's name (`.conf`) or a Type #2 image's (`.efi`): systemd-boot counts on both
    /// the same way; `fileName` gives back the name as spelled.
    public init?(entryOrImage name: String) {
        if let e = EntryFileName(name) { self = e; return }
        guard let u = UKIFileName(name), var e = EntryFileName(String(name.utf8.dropLast(4))! + ".conf") else { return nil }
        e.suffix = u.suffix
        self = e
    }
}

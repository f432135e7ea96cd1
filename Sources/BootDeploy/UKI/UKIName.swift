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
/// version from `IMAGE_VERSION` (else `VERSION`, `VERSION_ID`, `BUILD_ID`), and order entries with
/// a sort key by sort key, then version descending, exactly like Type #1 entries. Our Type #1
/// entries carry `sort-key bootdeploy` and `version <rank>`; the same pair here puts Type #1 and
/// Type #2 entries of ours into one order, the plan's. The rank is therefore part of the image:
/// a UKI whose rank changes is rebuilt (and re-signed), never only renamed.
public enum UKIOSRelease {
    /// `rank` nil: no `IMAGE_ID`/`IMAGE_VERSION`, for images a Type #1 entry starts (`efi`), whose
    /// order is the entry's; the image then does not change when the order does.
    public static func render(title: String, qualifiedID: String, rank: Int?, treeOSRelease: [String: String] = [:]) -> String {
        var lines: [String] = []
        func add(_ k: String, _ v: String) { lines.append("\(k)=\(quote(v))") }
        add("PRETTY_NAME", "\(title) (\(qualifiedID))")
        add("NAME", treeOSRelease["NAME"] ?? title)
        if let id = treeOSRelease["ID"] { add("ID", id) }
        if let v = treeOSRelease["VERSION_ID"] { add("VERSION_ID", v) }
        if let rank {
            add("IMAGE_ID", EntryRenderer.sortKey)
            add("IMAGE_VERSION", String(rank))
        }
        add("BOOTDEPLOY_DEPLOYMENT", qualifiedID)
        return lines.joined(separator: "\n") + "\n"
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

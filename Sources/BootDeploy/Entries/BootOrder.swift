/// An entry file as found in an entries directory: its name and its parsed content.
public struct LoadedEntry: Sendable, Equatable {
    public var name: EntryFileName
    public var entry: BootEntry

    public init(name: EntryFileName, entry: BootEntry) {
        self.name = name
        self.entry = entry
    }
}

/// The order in which boot loaders present Type #1 entries. The first entry is the one booted
/// when nothing (loader.conf `default`, an EFI variable, a one-shot choice) says otherwise —
/// BootDeploy never sets any of those, so this order alone decides what boots.
public enum BootOrder {
    /// The menu order of systemd-boot 252 (`config_entry_compare` in src/boot/efi/boot.c), and only
    /// the entries it would show:
    ///
    /// 1. entries with a counter and no tries left (`+0`, `+0-D`) go last;
    /// 2. entries with `sort-key` before entries without;
    /// 3. when both have `sort-key`: by `sort-key` (code unit order, ascending), then `machine-id`
    ///    (ascending, missing first), then `version` (newest first, UAPI version order);
    /// 4. then by id, newest first in version order, where systemd-boot's id is the whole file name
    ///    (counter and `.conf` included) in ASCII lower case;
    /// 5. when both have counters: more tries left first, then fewer tries done first.
    ///
    /// Values are compared as systemd-boot reads them, with one pair of surrounding double quotes
    /// removed. Entries systemd-boot does not show are left out: names starting with `auto-`
    /// (reserved for its own entries), entries with neither `linux` nor `efi`, and entries whose
    /// `architecture` is not the firmware's (`x64` on x86-64; compared case-sensitively, as it
    /// does). systemd-boot also hides an entry whose kernel file is missing; that needs the
    /// partition, so it is the caller's check. Ties (names that differ only in letter case, or in
    /// characters the version order ignores) keep the input order: systemd-boot sorts stably in
    /// directory order, which only the file system knows.
    public static func systemdBoot(_ entries: [LoadedEntry]) -> [LoadedEntry] {
        systemdBoot(entries, architecture: firmwareArchitecture)
    }

    /// `systemdBoot(_:)` for a firmware of another architecture (`ia32`, `x64`, `arm`, `aa64`,
    /// `riscv64`, `loongarch64`...).
    public static func systemdBoot(_ entries: [LoadedEntry], architecture: String) -> [LoadedEntry] {
        let keyed = entries.filter { isShownBySystemdBoot($0, architecture: architecture) }.map(SystemdBootKey.init)
        return stableSorted(keyed, by: SystemdBootKey.compare).map(\.loaded)
    }

    /// Whether systemd-boot 252 would put this entry in its menu (see `systemdBoot(_:)`).
    public static func isShownBySystemdBoot(_ e: LoadedEntry, architecture: String = firmwareArchitecture) -> Bool {
        if e.name.fileName.hasPrefix("auto-") { return false }
        if e.entry.linux == nil && e.entry.efi == nil { return false }
        if let arch = e.entry.architecture, BootEntry.systemdBootValue(arch) != architecture { return false }
        return true
    }

    /// The order `bootctl list` (systemd 252) prints Type #1 entries in, and only the entries it
    /// lists. It follows the same rules as systemd-boot 1-4 with these differences, each checked
    /// against the real bootctl by the oracle test:
    /// - the id compared is bootctl's (`BootctlName.id`): counter removed, suffix kept, letter case
    ///   kept (so `B.conf` sorts after `a.conf` here, before it in systemd-boot);
    /// - values are compared as written, quotes included;
    /// - there is no tie-break by counters (rule 5); entries whose ids compare equal keep their
    ///   input order here, while bootctl leaves them in directory order;
    /// - it lists entries without `linux`/`efi`, of any architecture, and `auto-*` names, but not
    ///   names bootctl refuses (`BootctlName` is nil: characters outside `[A-Za-z0-9+_.-]`, a counter
    ///   above 2147483647).
    public static func bootctl(_ entries: [LoadedEntry]) -> [LoadedEntry] {
        let keyed = entries.compactMap(BootctlKey.init)
        return stableSorted(keyed, by: BootctlKey.compare).map(\.loaded)
    }

    /// The architecture name systemd-boot was built for, as used by the `architecture` key.
    public static var firmwareArchitecture: String {
        #if arch(x86_64)
        return "x64"
        #elseif arch(i386)
        return "ia32"
        #elseif arch(arm64)
        return "aa64"
        #elseif arch(arm)
        return "arm"
        #elseif arch(riscv64)
        return "riscv64"
        #else
        return "unknown"
        #endif
    }

    // MARK: Keys

    /// What systemd-boot compares, precomputed once per entry.
    struct SystemdBootKey {
        var loaded: LoadedEntry
        var exhausted: Bool
        var sortKey: [UInt16]?
        var machineID: [UInt16]?
        var version: String?
        var id: [UInt8]
        var counter: BootCounter?

        init(_ e: LoadedEntry) {
            loaded = e
            counter = e.name.counter
            exhausted = counter?.left == 0
            sortKey = e.entry.sortKey.map { Array(BootEntry.systemdBootValue($0).utf16) }
            machineID = e.entry.machineID.map { Array(BootEntry.systemdBootValue($0).utf16) }
            version = e.entry.version.map(BootEntry.systemdBootValue)
            id = Array(e.name.fileName.utf8).map(asciiLower)
        }

        static func compare(_ a: SystemdBootKey, _ b: SystemdBootKey) -> Int {
            if a.exhausted != b.exhausted { return a.exhausted ? 1 : -1 }
            if (a.sortKey == nil) != (b.sortKey == nil) { return a.sortKey == nil ? 1 : -1 }
            if let sa = a.sortKey, let sb = b.sortKey {
                if let r = nonZero(compareUnits(sa, sb)) { return r }
                if let r = nonZero(compareOptionalUnits(a.machineID, b.machineID)) { return r }
                if let r = nonZero(-VersionOrder.compare(a.version, b.version)) { return r }
            }
            if let r = nonZero(-VersionOrder.compare(a.id, b.id)) { return r }
            guard let ca = a.counter, let cb = b.counter else { return 0 }
            if ca.left != cb.left { return ca.left > cb.left ? -1 : 1 }
            return VersionOrder.sign(ca.done - cb.done)
        }
    }

    /// What bootctl compares.
    struct BootctlKey {
        var loaded: LoadedEntry
        var exhausted: Bool
        var sortKey: [UInt8]?
        var machineID: [UInt8]?
        var version: String?
        var id: [UInt8]

        init?(_ e: LoadedEntry) {
            guard let name = BootctlName(e.name.fileName) else { return nil }
            loaded = e
            exhausted = name.triesLeft == 0
            sortKey = e.entry.sortKey.map { Array($0.utf8) }
            machineID = e.entry.machineID.map { Array($0.utf8) }
            version = e.entry.version
            id = Array(name.id.utf8)
        }

        static func compare(_ a: BootctlKey, _ b: BootctlKey) -> Int {
            if a.exhausted != b.exhausted { return a.exhausted ? 1 : -1 }
            if (a.sortKey == nil) != (b.sortKey == nil) { return a.sortKey == nil ? 1 : -1 }
            if let sa = a.sortKey, let sb = b.sortKey {
                if let r = nonZero(compareUnits(sa, sb)) { return r }
                if let r = nonZero(compareOptionalUnits(a.machineID, b.machineID)) { return r }
                if let r = nonZero(-VersionOrder.compare(a.version, b.version)) { return r }
            }
            return -VersionOrder.compare(a.id, b.id)
        }
    }

    private static func nonZero(_ r: Int) -> Int? { r == 0 ? nil : r }

    /// `strcmp` over code units (unsigned), as C compares them.
    static func compareUnits<C: FixedWidthInteger & UnsignedInteger>(_ a: [C], _ b: [C]) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return VersionOrder.sign(a.count - b.count)
    }

    /// A missing value sorts before any present one (systemd's `strcmp_ptr()` / `strcmp16()`).
    static func compareOptionalUnits<C: FixedWidthInteger & UnsignedInteger>(_ a: [C]?, _ b: [C]?) -> Int {
        switch (a, b) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case let (a?, b?): return compareUnits(a, b)
        }
    }

    /// A stable merge sort: equal elements keep their input order, which Swift's `sort` does not
    /// promise.
    static func stableSorted<T>(_ items: [T], by compare: (T, T) -> Int) -> [T] {
        if items.count < 2 { return items }
        let mid = items.count / 2
        let left = stableSorted(Array(items[..<mid]), by: compare)
        let right = stableSorted(Array(items[mid...]), by: compare)
        var out: [T] = []
        out.reserveCapacity(items.count)
        var i = 0, j = 0
        while i < left.count && j < right.count {
            if compare(right[j], left[i]) < 0 { out.append(right[j]); j += 1 } else { out.append(left[i]); i += 1 }
        }
        out += left[i...]
        out += right[j...]
        return out
    }
}

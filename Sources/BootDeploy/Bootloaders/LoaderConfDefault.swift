import BootDeployEarlyBoot
import BootDeploySystem
import Glibc

/// The administrator's `default` in systemd-boot's `loader/loader.conf`, and whether it overrides
/// BootDeploy's order. BootDeploy makes its first entry the default by order alone; a `default`
/// glob that selects another entry (systemd-boot takes the first entry in its order whose id
/// matches), or `@saved` (the entry booted last), keeps a rollback or a fallback from taking
/// effect. `status`, `deploy` and `validate` say so.
///
/// systemd-boot reads loader.conf from the ESP; `bootctl` and the Boot Loader Specification also
/// place it on the boot partition. Both are read where they differ.
enum LoaderConfDefault {
    /// What one loader.conf says: the file and its `default` value (the last one wins).
    /// A loader.conf that exists but cannot be read is in `unreadable`, with the error: its
    /// `default` cannot be judged, and saying nothing would read as "no problem".
    static func defaults(bootPath: String) -> (found: [(file: String, value: String)], unreadable: [String]) {
        var out: [(String, String)] = []
        var unreadable: [String] = []
        var seen = Set<String>()
        for root in [bootPath] + espPaths(besides: bootPath) where !seen.contains(root) {
            seen.insert(root)
            guard let dir = try? Directory.open(root), dir.exists("loader/loader.conf") else { continue }
            let text: String
            do { text = try dir.readText("loader/loader.conf") } catch {
                unreadable.append("\(error)")
                continue
            }
            var value: String?
            for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
                let line = raw.drop { $0 == " " || $0 == "\t" }
                if line.hasPrefix("#") { continue }
                let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
                guard parts.count == 2, parts[0] == "default" else { continue }
                value = String(parts[1]).trimmingCharacters(in: " \t")
            }
            if let value, !value.isEmpty { out.append(("\(root)/loader/loader.conf", value)) }
        }
        return (out, unreadable)
    }

    /// An ESP mounted where bootctl looks, other than the boot partition itself: only on a live
    /// system whose boot partition is itself one of those mount points.
    static func espPaths(besides bootPath: String) -> [String] {
        guard BootLocator.candidates.contains(bootPath), let table = try? MountTable.current(path: "/proc/self/mountinfo") else { return [] }
        return BootLocator.candidates.filter { c in
            guard c != bootPath, let m = table.last(where: { $0.target == c }), m.source.hasPrefix("/dev/") else { return false }
            return (try? BlockDevices.probe(m.source))?.partitionType == PartitionType.esp
        }
    }

    /// Whether systemd-boot's glob `pattern` matches an entry's id (case folded; with and without
    /// its `.conf` suffix, since systemd versions differ in which they compare).
    static func matches(_ pattern: String, _ name: EntryFileName) -> Bool {
        let p = pattern.lowercased()
        return [name.id + name.suffix, name.id].contains { fnmatch(p, $0.lowercased(), 0) == 0 }
    }

    /// Warnings for the entries as they are (systemd-boot's order in `all`, ours in `ours`).
    static func warnings(bootPath: String, state: BootEntriesState) -> [String] {
        guard let first = state.ours.first else { return [] }
        var out: [String] = []
        let conf = defaults(bootPath: bootPath)
        for e in conf.unreadable {
            out.append("\(e): loader.conf cannot be read, so whether its 'default' overrides BootDeploy's order is unknown")
        }
        for (file, value) in conf.found {
            let shown = PrepareRootError.printable(value)
            if value.hasPrefix("@") {
                out.append("\(file): 'default \(shown)' makes systemd-boot choose by an EFI variable, not BootDeploy's order: \(first.name.fileName) may not boot, and rollbacks and fallbacks do not take effect; remove the line")
                continue
            }
            guard let hit = state.all.first(where: { matches(value, $0.name) }) else { continue }
            if hit.name.id != first.name.id {
                out.append("\(file): 'default \(shown)' selects \(hit.name.fileName), not BootDeploy's first entry \(first.name.fileName): rollbacks and fallbacks do not take effect; remove the line")
            } else if state.ours.count >= 2 && !matches(value, state.ours[1].name) {
                // It names our first entry today but not the fallback: once the first entry's
                // tries are spent, systemd-boot still picks it (or another match), not the next.
                out.append("\(file): 'default \(shown)' pins the default to an entry: when \(first.name.fileName) fails, systemd-boot keeps booting it instead of falling back; remove the line")
            }
        }
        return out
    }
}

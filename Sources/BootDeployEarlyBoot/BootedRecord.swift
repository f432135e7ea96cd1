import BootDeploySystem
import Glibc

/// `/run/bootdeploy/booted.json` (docs/ON-DISK.md): what prepare-root booted, for `boot-health`
/// and `boot-deploy status`, which must not guess it from the entry file name.
public struct BootedRecord: Sendable, Equatable {
    public var name: DeploymentName
    /// The entry the boot loader counted, from LoaderBootCountPath (basename), if it told us.
    public var loaderEntry: String?
    /// The software counter after this boot's increment, if the deployment is counted.
    public var softwareAttempts: Int?
    /// CLOCK_REALTIME seconds.
    public var bootedAt: Int

    public init(name: DeploymentName, loaderEntry: String?, softwareAttempts: Int?, bootedAt: Int) {
        self.name = name
        self.loaderEntry = loaderEntry
        self.softwareAttempts = softwareAttempts
        self.bootedAt = bootedAt
    }

    public var json: JSONValue {
        .object([
            "schema": .number("1"),
            "stateroot": .string(name.stateroot),
            "id": .string(name.id),
            "deployment": .string(name.deploymentPath),
            "loaderEntry": loaderEntry.map { .string($0) } ?? .null,
            "softwareAttempts": softwareAttempts.map { .number(String($0)) } ?? .null,
            "bootedAt": .number(String(bootedAt)),
        ])
    }

    /// Writes the record atomically into `runDir`, creating the directory.
    public func write(runDir: String) throws(PrepareRootError) {
        do {
            let root = try Directory.open(runDir.hasPrefix("/") ? "/" : ".")
            let rel = MountPlan.normalized(runDir).split(separator: "/").joined(separator: "/")
            if !rel.isEmpty { try root.makeDirectory(rel, parents: true) }
            let dir = rel.isEmpty ? root : try root.openDirectory(rel, noFollow: true)
            try dir.replaceFile("booted.json", Array(json.renderedPretty().utf8))
        } catch {
            throw PrepareRootError("writing \(MountPlan.join(runDir, "booted.json")): \(error)")
        }
    }

    public static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int(ts.tv_sec)
    }
}

/// The Boot Loader Interface's EFI variables, decoded once for prepare-root and boot-health.
public enum LoaderVariables {
    /// systemd-boot's vendor GUID for the Boot Loader Interface variables.
    public static let vendor = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

    /// The content of an efivarfs file (4 bytes of attributes, then the value) as UTF-16LE text
    /// without its terminating NUL; nil when it is too short or not text.
    public static func decodeString(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 6, (bytes.count - 4) % 2 == 0 else { return nil }
        var units: [UInt16] = []
        var k = 4
        while k + 1 < bytes.count {
            let u = UInt16(bytes[k]) | UInt16(bytes[k + 1]) << 8
            if u == 0 { break }
            units.append(u)
            k += 2
        }
        guard !units.isEmpty else { return nil }
        var out = ""
        var it = units.makeIterator()
        var decoder = UTF16()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): out.unicodeScalars.append(s)
            case .emptyInput: return out
            case .error: return nil
            }
        }
    }

    /// The last component of a loader path (`\loader\entries\a+2-1.conf` -> `a+2-1.conf`).
    public static func basename(_ path: String) -> String {
        let parts = path.split(whereSeparator: { $0 == "\\" || $0 == "/" })
        return parts.last.map(String.init) ?? path
    }

    /// LoaderBootCountPath's entry file name, read from `efivars` (an efivarfs directory).
    public static func bootCountEntry(efivars: String) -> String? {
        guard let dir = try? Directory.open(efivars),
              let bytes = try? dir.readFile("LoaderBootCountPath-" + vendor, limit: 8192),
              let path = decodeString(bytes) else { return nil }
        let name = basename(path)
        return name.isEmpty ? nil : name
    }

}

import BootDeploySystem

/// LoaderBootCountPath and friends, read from an efivarfs directory (4 bytes of attributes, then
/// UTF-16LE, usually NUL-terminated).
public enum EFIVariables {
    public static let loaderVendor = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

    public static func loaderString(_ name: String, efivars: String) -> String? {
        guard let d = try? Directory.open(efivars), let bytes = try? d.readFile(name + "-" + loaderVendor, limit: 65536),
              bytes.count >= 6 else { return nil }
        var units: [UInt16] = []
        var i = 4
        while i + 1 < bytes.count {
            let u = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            if u == 0 { break }
            units.append(u)
            i += 2
        }
        return String(decoding: units, as: UTF16.self)
    }

    /// Basename of the booted entry file as the boot loader named it after counting
    /// (`\loader\entries\bd-os-002+2-1.conf` -> `bd-os-002+2-1.conf`).
    public static func bootCountEntry(efivars: String) -> String? {
        guard let p = loaderString("LoaderBootCountPath", efivars: efivars) else { return nil }
        let last = p.split(whereSeparator: { $0 == "\\" || $0 == "/" }).last.map(String.init)
        return last
    }
}

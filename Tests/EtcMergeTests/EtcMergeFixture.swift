import BootDeploy
import Foundation
import Glibc
import TestSupport
import Testing

/// Two deployments side by side in a temporary directory, `cur/` (the booted one, with `usr/etc`
/// and a live `etc`) and `new/` (only `usr/etc`), built with shell commands so that every test
/// states its setup the way an administrator would make it.
///
/// Scripts run in the temporary directory with `$OV`, `$OL`, `$NV` and `$T` naming the old vendor
/// defaults, the old live /etc, the new vendor defaults and the target.
final class EtcFixture {
    let tmp = TempDir("etcmerge")
    var oldVendor: String { tmp.sub("cur/usr/etc") }
    var oldLive: String { tmp.sub("cur/etc") }
    var newVendor: String { tmp.sub("new/usr/etc") }
    var target: String { tmp.sub("new/etc") }

    /// `vendor` populates the old vendor tree; it is then installed as the live /etc with `cp -a`
    /// (as a first boot would), `local` applies the administrator's changes to it, and `update`
    /// builds the new vendor tree, which starts as a copy of the old one.
    init(vendor: String, local: String = "", update: String = "", install: Bool = true) throws {
        try shell("mkdir -p \"$OV\" new")
        try shell(vendor)
        if install { try shell("cp -a \"$OV\" \"$OL\"") }
        try shell(local)
        try shell("mkdir -p new/usr && cp -a \"$OV\" \"$NV\"")
        try shell(update)
    }

    func shell(_ script: String) throws {
        if script.isEmpty { return }
        // setx PATH NAME VALUE sets an extended attribute; VALUE is hex when it starts with 0x.
        let helpers = """
            setx() { python3 -c 'import os,sys; v=sys.argv[3]; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(v[2:]) if v.startswith("0x") else v.encode(), follow_symlinks=False)' "$@"; }
            """
        let r = try run("/bin/bash", ["-euc", helpers + "\ncd \"$ROOT\"\n" + script],
                        env: ["ROOT": tmp.path, "OV": "cur/usr/etc", "OL": "cur/etc", "NV": "new/usr/etc", "T": "new/etc"])
        guard r.ok else { throw FixtureError(message: "fixture script failed: \(r.stderr)\n\(script)") }
    }

    func merge() throws -> EtcMergeReport {
        try EtcMerge.merge(oldVendor: oldVendor, oldLive: oldLive, newVendor: newVendor, into: target)
    }

    // MARK: Looking at the result

    func read(_ name: String) -> String? { tmp.read("new/etc/" + name) }

    func exists(_ name: String) -> Bool { lstatOf(name) != nil }

    func lstatOf(_ name: String) -> stat? {
        var st = stat()
        return lstat(target + "/" + name, &st) == 0 ? st : nil
    }

    func type(_ name: String) -> String {
        guard let st = lstatOf(name) else { return "missing" }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return "file"
        case S_IFDIR: return "directory"
        case S_IFLNK: return "symlink"
        default: return "other"
        }
    }

    /// The value of extended attribute `key` of `name` in the result, in hex; nil when absent.
    func xattr(_ name: String, _ key: String) throws -> String? {
        let r = try run("/usr/bin/python3", ["-c", "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())",
                                             target + "/" + name, key])
        return r.ok ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    func mode(_ name: String) -> mode_t? { lstatOf(name).map { $0.st_mode & 0o7777 } }

    func link(_ name: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: target + "/" + name)
    }

    /// Every path below the target, sorted, with a type letter: the whole result at a glance.
    func listing(_ root: String? = nil) throws -> [String] {
        let r = try run("/usr/bin/find", [root ?? target, "-mindepth", "1", "-printf", "%y %P\\n"])
        return r.stdout.split(separator: "\n").map(String.init).sorted()
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

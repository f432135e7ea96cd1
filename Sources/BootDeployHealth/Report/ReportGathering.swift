import BootDeploy
import BootDeploySystem
import Glibc

extension HealthService {
    /// Reads what a report is made of: boot-health's status (the record, the live counter, the
    /// order), boot-deploy's status from `deployStatus` (its failure is a warning, not the end of
    /// the report), the machine and boot IDs. Changes nothing.
    public func reportFacts(since: String?, machineIDFile: String = "/etc/machine-id",
                            deployStatus: () throws -> BootStatus) throws -> ReportFacts {
        let now = wallClockSeconds()
        let from = try since.map { try ReportSince.parse($0, now: now) }
        let health = try statusReport()
        var deploy: BootStatus?
        var deployError: String?
        do { deploy = try deployStatus() } catch { deployError = "\(error)" }
        return ReportFacts(health: health, deploy: deploy, deployError: deployError, now: now, since: from,
                           machineID: Self.machineID(machineIDFile), bootID: Self.bootID())
    }

    /// The 32 hex digits of machine-id(5); nil when the file is absent or holds something else
    /// ("uninitialized" on a first boot).
    static func machineID(_ file: String) -> String? {
        let slash = file.lastIndex(of: "/")
        let dirPath = slash.map { String(file[..<$0]) } ?? "."
        let name = slash.map { String(file[file.index(after: $0)...]) } ?? file
        guard let text = try? Directory.open(dirPath.isEmpty ? "/" : dirPath).readText(name) else { return nil }
        let id = text.trimmingSpaces
        return id.count == 32 && id.allSatisfy({ $0.isHexDigit }) ? id : nil
    }
}

extension HealthService {
    /// Which version of the status record is on disk: its inode and change time. Every save
    /// replaces the file (a new inode), so two equal values mean nothing was decided in between.
    /// A writer of the metrics compares it before and after, because a decision that lands while
    /// boot-health-metrics.service runs does not start the service again.
    public func recordVersion() -> String? {
        var st = stat()
        let path = "\(roots.sysroot)/bootdeploy/health/\(StatusStore.fileName)"
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_ino):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
    }
}

import BootDeployEarlyBoot
import BootDeploySystem

/// What a deploy made: the record, and what the /etc merge did (nil when none ran).
public struct DeployResult: Sendable {
    public var record: DeploymentRecord
    public var etcMerge: EtcMergeReport?
}

extension DeploymentManager {
    /// Name under which the tree's own (vendor) /etc waits while the merge writes the new one.
    static let placedEtcAside = ".bootdeploy-placed-etc"

    /// Builds the /etc of the placed deployment `target` from its vendor defaults (`usr/etc`) and the
    /// administrator's changes to `source`'s /etc: the same three-way merge as finalize
    /// (docs/ETC-MERGE.md). The tree's own `etc` waits aside and comes back if the merge fails, so
    /// a tree that was moved into place (`--move`) is given back as it came. Runs before the record
    /// exists and before /boot is touched: a crash leaves a tree without a record, which cleanup
    /// removes.
    func mergeEtc(from source: DeploymentRecord, into target: DeploymentName,
                  in deployDir: Directory) throws(BootDeployError) -> EtcMergeReport {
        let tree = try sys { () throws(SystemError) in try deployDir.openDirectory(target.id) }
        let aside = Self.placedEtcAside
        let hadEtc = try sys { () throws(SystemError) in try tree.kind("etc") } != .missing
        if tree.exists(aside) {
            throw .refused("\(tree.path)/\(aside) exists in the tree; boot-deploy needs that name while it merges /etc (remove it from the tree)")
        }
        func putBack() {
            // The merge leaves no etc behind when it fails; the tree's own one returns.
            try? sys { () throws(SystemError) in
                if hadEtc && tree.exists(aside) {
                    try tree.removeTree("etc")
                    try tree.rename(aside, to: "etc")
                }
            }
        }
        if hadEtc { try sys { () throws(SystemError) in try tree.rename("etc", to: aside) } }
        let report: EtcMergeReport
        do {
            report = try EtcMerge.merge(currentDeployment: absolute("\(roots.sysroot)/\(source.name.deploymentPath)"),
                                        newDeployment: absolute(tree.path))
        } catch let e as BootDeployError {
            putBack()
            throw e
        } catch {
            putBack()
            throw .refused("merging /etc from \(source.name) into \(target) (nothing was written to /boot): \(error)")
        }
        do {
            try sys { () throws(SystemError) in
                if hadEtc { try tree.removeTree(aside) }
                try tree.sync()
            }
        } catch {
            putBack()
            throw error
        }
        return report
    }
}

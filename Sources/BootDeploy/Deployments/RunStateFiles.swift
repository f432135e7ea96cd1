/// A deployment waiting for finalize (`/run/bootdeploy/staged.json`).
public struct StagedDeployment: Codable, Sendable {
    public var schema: Int = 1
    public var stateroot: String
    public var id: String
    public var tries: Int
    public var locked: Bool
    public var staged: String
    /// False when staged with `--no-etc-merge`: finalize then leaves the tree's /etc as it is.
    public var mergeEtc: Bool? = nil
    public var qualifiedID: String { "\(stateroot)/\(id)" }
}

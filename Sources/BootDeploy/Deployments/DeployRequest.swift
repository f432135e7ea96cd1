/// What `deploy` is asked to do.
public struct DeployRequest: Sendable {
    public var stateroot: String
    public var tree: String
    public var version: String?
    public var title: String?
    public var kargs: [String]
    /// Boot attempts before systemd-boot gives up on the entry; 0 for no counter.
    public var tries: Int
    /// Rename the tree into place instead of hard-linking (same filesystem only).
    public var move: Bool
    /// The updater's identity of the content (an ostree commit, an image digest).
    public var digest: String?
    /// Keep a software boot counter for boot loaders that count nothing.
    public var softwareCounter: Bool
    /// Where the kernel arguments start from; `kargs` (`--karg KEY=VALUE`) replaces every argument
    /// of its key, `kargsDelete` removes, `kargsAppend` appends (MergeDeployment.swift).
    public var kargsBase: KargsBase = .mergeDeployment
    public var kargsAppend: [String] = []
    public var kargsDelete: [String] = []
    /// Merge the merge deployment's /etc changes into the new deployment (off for image builds).
    public var mergeEtc = true
    /// Boot without an initramfs: the entry runs the tree's early-boot binary, installed into the
    /// physical root (EarlyBootInstall/), as `init=`.
    public var noInitramfs = false
    /// Boot as a unified kernel image (UKI/, docs/UKI.md); also on when `uki.conf` says `uki yes`.
    public var uki = false

    public init(stateroot: String, tree: String, version: String? = nil, title: String? = nil, kargs: [String] = [],
                tries: Int = 3, move: Bool = false, digest: String? = nil, softwareCounter: Bool = false) {
        self.stateroot = stateroot
        self.tree = tree
        self.version = version
        self.title = title
        self.kargs = kargs
        self.tries = tries
        self.move = move
        self.digest = digest
        self.softwareCounter = softwareCounter
    }
}

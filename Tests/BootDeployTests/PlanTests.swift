import BootDeployEarlyBoot
import Testing
@testable import BootDeploy

private func e(_ id: String, _ c: BootCounter?) -> PlannedEntry { PlannedEntry(stateroot: "os", id: id, counter: c) }
private let fresh = BootCounter(left: 3, done: 0)

@Suite("Boot plan (pure)")
struct PlanTests {
    @Test("a new deployment becomes the default with a +N-0 counter")
    func deployFirst() {
        let p = BootPlan([e("a", nil)]).deploying(DeploymentName(stateroot: "os", id: "b"), tries: 3)
        #expect(p.entries.map(\.id) == ["b", "a"])
        #expect(p.entries[0].counter == fresh)
        #expect(BootPlan([]).deploying(DeploymentName(stateroot: "os", id: "x"), tries: 0).entries[0].counter == nil)
        #expect(BootPlan([]).deploying(DeploymentName(stateroot: "os", id: "x"), tries: 42).entries[0].counter?.left == 9)
    }

    @Test("bad entries always sort behind the others")
    func badLast() {
        let p = BootPlan([e("a", BootCounter(left: 0, done: 3)), e("b", nil), e("c", fresh)])
        #expect(p.entries.map(\.id) == ["b", "c", "a"])
    }

    @Test("rollback puts the previous good deployment first and keeps the current one second")
    func rollback() throws {
        let p = try BootPlan([e("a", nil), e("b", nil), e("c", nil)]).rollingBack()
        #expect(p.entries.map(\.id) == ["b", "a", "c"])
        #expect(throws: BootDeployError.self) { try BootPlan([e("a", nil)]).rollingBack() }
        #expect(throws: BootDeployError.self) { try BootPlan([e("a", nil), e("b", BootCounter(left: 0, done: 1))]).rollingBack() }
    }

    @Test("demote marks +0-D, keeps tries done, and moves the deployment last")
    func demote() throws {
        let p = try BootPlan([e("a", BootCounter(left: 1, done: 2)), e("b", nil)]).demoting(DeploymentName(stateroot: "os", id: "a"))
        #expect(p.entries.map(\.id) == ["b", "a"])
        #expect(p.entries[1].counter == BootCounter(left: 0, done: 2))
    }

    @Test("the last entry cannot be removed")
    func lastEntry() throws {
        #expect(throws: BootDeployError.self) { try BootPlan([e("a", nil)]).removing(DeploymentName(stateroot: "os", id: "a")) }
        #expect(try BootPlan([e("a", nil), e("b", nil)]).removing(DeploymentName(stateroot: "os", id: "a")).entries.map(\.id) == ["b"])
    }

    @Test("a bad deployment cannot be made the default")
    func setDefaultBad() {
        #expect(throws: BootDeployError.self) {
            try BootPlan([e("a", nil), e("b", BootCounter(left: 0, done: 3))]).settingDefault(DeploymentName(stateroot: "os", id: "b"))
        }
    }

    @Test("ranks are three digits, the default highest, and sort the same by version and by name")
    func ranks() {
        #expect(EntryRenderer.fileID(stateroot: "os", rank: 7) == "bd-os-007")
        #expect(EntryRenderer.ranks(count: 3, top: 3) == [3, 2, 1])
        let names = (1...120).map { EntryRenderer.fileID(stateroot: "os", rank: $0) }
        #expect(names.sorted() == names)
        #expect(names.sorted { compareVersions($0, $1) < 0 } == names)
    }
}

@Suite("Names and kernel arguments")
struct NameTests {
    @Test("names with /, .., control characters or spaces are refused")
    func badNames() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\nb", "a\u{7}", "-x", ".hidden", String(repeating: "x", count: 65), "é"] {
            #expect(!Names.isValid(bad), "\(bad.debugDescription) must be refused")
        }
        for good in ["os", "fedora-40", "a.b_c", "X1"] { #expect(Names.isValid(good)) }
    }

    @Test("kernel arguments split like the kernel does, quotes group")
    func split() {
        let k = KernelArguments(parsing: "  root=UUID=1 quiet  foo=\"a b\" \"bar=c d\" x= ")
        #expect(k.parameters == ["root=UUID=1", "quiet", "foo=\"a b\"", "\"bar=c d\"", "x="])
        #expect(KernelArguments.key(of: "foo=\"a b\"") == "foo")
        #expect(KernelArguments.value(of: "foo=\"a b\"") == "a b")
        #expect(KernelArguments.key(of: "\"bar=c d\"") == "bar")
        #expect(k.value("root") == "UUID=1")
    }

    @Test("append quotes values with spaces; delete by key or exact pair; replace")
    func edit() {
        var k = KernelArguments(["root=/dev/sda", "console=ttyS0", "console=tty0", "quiet"])
        k.append("opt=a b")
        #expect(k.parameters.last == "opt=\"a b\"")
        #expect(k.delete("console=tty0") == 1)
        #expect(k.parameters.contains("console=ttyS0"))
        #expect(k.delete("console") == 1)
        #expect(k.replace("root=/dev/vda") == 1)
        #expect(k.parameters.first == "root=/dev/vda")
        #expect(k.delete("absent") == 0)
    }
}

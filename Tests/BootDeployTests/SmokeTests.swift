import Testing
@testable import BootDeploySystem

@Test func directoryWritesAndReadsBack() throws {
    let d = try Directory.open("/tmp")
    try d.writeText("bd-smoke-\(getpid())", "x")
    #expect(try d.readText("bd-smoke-\(getpid())") == "x")
    try d.remove("bd-smoke-\(getpid())")
}
import Glibc

import BootDeploy
import BootDeploySystem
import TestSupport
import Foundation
import Testing

/// Known answers from FIPS 180-4's examples and NIST's CAVP short/long messages, and the streaming
/// reader against a one-shot digest of the same bytes.
@Suite("SHA-256: known answers and streaming")
struct SHA256Tests {
    @Test("FIPS 180-4 and CAVP known answers")
    func knownAnswers() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let split = SHA256()
        split.update(Array("ab".utf8))
        split.update(Array("c".utf8))
        #expect(split.finalizeHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a': the long message of FIPS 180-2's examples, fed in uneven pieces.
        let h = SHA256()
        var left = 1_000_000
        var piece = 1
        while left > 0 {
            let n = min(piece, left)
            h.update([UInt8](repeating: 0x61, count: n))
            left -= n
            piece = piece * 3 % 1001 + 1
        }
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("a file read in chunks hashes as the same bytes in one piece")
    func streamedFile() throws {
        let t = TempDir("bd-sha")
        var bytes: [UInt8] = []
        var x: UInt32 = 1
        for _ in 0..<(3 << 20) + 12345 { x = x &* 1_103_515_245 &+ 12345; bytes.append(UInt8(truncatingIfNeeded: x >> 16)) }
        #expect(FileManager.default.createFile(atPath: t.sub("blob"), contents: Data(bytes)))
        let d = try Directory.open(t.path)
        let h = SHA256()
        let n = try d.readChunks("blob", chunk: 65536) { h.update($0) }
        #expect(n == bytes.count)
        #expect(h.finalizeHex() == SHA256.hex(bytes))
    }
}

import Foundation
import Testing
import TestSupport
import BootDeploySystem
@testable import BootDeploy

/// The two-copy counter of the U-Boot boot script: a torn or garbled copy is never taken, the
/// other one is, and a writer always leaves one valid copy.
@Suite("U-Boot counter: two copies with a sequence")
struct UBootCounterTests {
    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("round trip of every valid state, with and without env export's trailing NUL")
    func roundTrip() {
        for seq in 0...2 {
            for left in 0...UBootCounter.maxLeft {
                for trial in [nil, "os/001", "stateroot-2/20261205.1"] {
                    let c = UBootCounter(trial: trial, left: left, sequence: seq)
                    #expect(UBootCounter.parse(Array(c.render().utf8)) == c)
                    #expect(UBootCounter.parse(Array(c.render().utf8) + [0]) == c)
                }
            }
        }
    }

    @Test("every truncation, zero-filled tail and random garble of a copy is rejected or the same state")
    func tornCopies() {
        var rng = Rng(state: 42)
        let c = UBootCounter(trial: "os/002", left: 2, sequence: 1)
        let bytes = Array(c.render().utf8)
        for cut in 0..<bytes.count {
            let torn = Array(bytes[..<cut])
            let parsed = UBootCounter.parse(torn)
            #expect(parsed == nil || parsed == c, "cut at \(cut): \(String(describing: parsed))")
            // FAT: the size was updated, the data never reached the disk.
            let zeroTail = torn + [UInt8](repeating: 0, count: bytes.count - cut)
            #expect(UBootCounter.parse(zeroTail) == nil || cut == bytes.count - 1, "zero tail at \(cut)")
        }
        #expect(UBootCounter.parse([UInt8](repeating: 0, count: 512)) == nil)
        #expect(UBootCounter.parse([]) == nil)
        var accepted = 0
        for _ in 0..<5000 {
            var g = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                g[Int.random(in: 0..<g.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if let p = UBootCounter.parse(g), p != c {
                // A garble that still reads as a copy must be within the value domain.
                #expect((0...UBootCounter.maxLeft).contains(p.left) && (0...2).contains(p.sequence))
                accepted += 1
            }
        }
        // A changed digit in bdc_left can still read as a (wrong) valid copy; everything else is rejected.
        #expect(accepted < 250, "\(accepted) of 5000 garbled copies read as another valid state")
        for bad in ["bdc_left=10\nbdc_seq=0\nbdc_trial=os/1\nbdc_zend=0\n", "bdc_left=1\nbdc_seq=3\nbdc_trial=os/1\nbdc_zend=3\n",
                    "bdc_left=1\nbdc_seq=0\nbdc_trial=os/1\nbdc_zend=1\n", "bdc_left=1\nbdc_seq=0\nbdc_trial=\nbdc_zend=0\n",
                    "bdc_left=1\nbdc_seq=0\nbdc_seq=0\nbdc_trial=os/1\nbdc_zend=0\n", "bdc_left=1\nbdc_seq=0\nbdc_trial=os/1\nbdc_zend=0\nx=1\n"] {
            #expect(UBootCounter.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test("the newer copy is the successor in 0, 1, 2, 0; the writer overwrites the other one")
    func choose() {
        for a in 0...2 {
            let ca = UBootCounter(trial: "os/a", left: 1, sequence: a)
            let cb = UBootCounter(trial: "os/b", left: 2, sequence: (a + 1) % 3)
            #expect(UBootCounter.choose(ca, cb).current == cb && UBootCounter.choose(ca, cb).writeSlot == 0)
            #expect(UBootCounter.choose(cb, ca).current == cb && UBootCounter.choose(cb, ca).writeSlot == 1)
            #expect(UBootCounter.choose(ca, nil).current == ca && UBootCounter.choose(ca, nil).writeSlot == 1)
            #expect(UBootCounter.choose(nil, ca).current == ca && UBootCounter.choose(nil, ca).writeSlot == 0)
        }
        #expect(UBootCounter.choose(nil, nil).current == nil)
    }

    @Test("writes alternate copies; a write cut at any byte leaves the state of before it (property, 300 runs)")
    func writerPowerCut() throws {
        var rng = Rng(state: 7)
        let t = TempDir("uboot-counter")
        let dir = try Directory.open(t.path)
        var expected: UBootCounter?
        for step in 0..<300 {
            let trial: String? = Bool.random(using: &rng) ? "os/\(Int.random(in: 1...3, using: &rng))" : nil
            let left = Int.random(in: 0...UBootCounter.maxLeft, using: &rng)
            let before = UBootCounter.read(dir)
            if Int.random(in: 0..<3, using: &rng) == 0 {
                // Power cut in U-Boot's in-place write of the older copy: a prefix of the new text.
                let seq = before.current.map { ($0.sequence + 1) % 3 } ?? 0
                let text = Array(UBootCounter(trial: trial, left: left, sequence: seq).render().utf8)
                let cut = Int.random(in: 0..<text.count, using: &rng)
                try Data(text[..<cut]).write(to: URL(fileURLWithPath: t.sub(UBootCounter.files[before.writeSlot])))
                #expect(UBootCounter.read(dir).current == before.current, "step \(step): a torn write changed the state")
            } else {
                let w = try UBootCounter.write(dir, trial: trial, left: left)
                expected = w
                let after = UBootCounter.read(dir)
                #expect(after.current == w, "step \(step)")
                #expect(after.current?.trial == trial && after.current?.left == left)
                #expect(after.writeSlot != before.writeSlot || before.current == nil, "step \(step): the same copy twice")
            }
            _ = expected
        }
    }
}

import Foundation
import PylonTestSupport
import Testing

@Suite("what a newcomer meets first (process level)")
struct FirstRunTests {
    @Test("on a fresh home: pylon, status, start, doctor each say what to do next")
    func freshHome() throws {
        let node = try PylonNode(initialize: false)
        let help = try node.pylon()
        #expect(help.status == 0)
        #expect(help.stdout.contains("`pylon init`") && help.stdout.contains("`pylon doctor`"), "\(help)")
        let status = try node.pylon("status")
        #expect(status.status == 3)
        #expect(status.stdout.contains("no identity yet: `pylon init`, then `pylon start`"), "\(status)")
        let start = try node.pylon("start")
        #expect(start.status == 1)
        #expect(start.stderr == "error: no identity at \(node.home.file("identity.mnemonic").path); create one with `pylon init`\n", "\(start)")
        // Without a terminal the marks are words, and the summary names the same word.
        let doctor = try node.pylon("doctor", "--mode", "host")
        #expect(doctor.status == 1)
        #expect(doctor.stdout.contains("FAIL identity"), "\(doctor)")
        #expect(doctor.stdout.hasSuffix("not ready: fix the FAIL items above\n"), "\(doctor)")
        #expect(!doctor.stdout.contains("✗"))
        let initialized = try node.pylon("init")
        #expect(initialized.stdout.contains("Next: `pylon doctor`"), "\(initialized)")
    }
}

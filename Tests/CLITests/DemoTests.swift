import Foundation
import PylonTestSupport
import Testing

/// The README's first set-up command, `scripts/demo.sh`, in its fast mode: the mock LLM instead
/// of the real model, the wallet service's in-memory ledger instead of LNbits, the binary under
/// test instead of a fresh build; every other step (relay, wallets, priced provider home, buyer
/// home paying with --auto-pay, status, jobs, earnings, metrics, clean-up) runs as it does for a
/// newcomer.
@Suite("the demo script (the main job, end to end)")
struct DemoTests {
    @Test("DEMO_FAST=1 scripts/demo.sh buys and pays for a job from a local provider, shows it, and stops everything")
    func fastDemo() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [TestPaths.packageRoot.appending(path: "scripts/demo.sh").path]
        var environment = ProcessInfo.processInfo.environment
        environment["DEMO_FAST"] = "1"
        environment["PYLON_BIN"] = PylonBinary.url.path
        environment.removeValue(forKey: "PYLON_HOME")
        environment.removeValue(forKey: "DEMO_WALLET")
        process.environment = environment
        process.currentDirectoryURL = TestPaths.packageRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text.suffix(3000))")
        let answer = MockLLMServer.expectedText(prompt: "What is the capital of France?", count: 8)
        #expect(text.contains("==> the answer"))
        #expect(text.contains(answer), "the mock's answer reached the buyer")
        #expect(text.contains("completed"), "the provider's jobs list shows the job")
        #expect(text.contains("pylon_provider_jobs_finished_total{outcome=\"completed\"} 1"))
        #expect(text.contains("paid 21 sats"), "the buyer paid the provider's invoice")
        #expect(text.contains("all time   21 sats from 1 payments"), "pylon earnings shows what the provider earned")
        #expect(text.contains("pylon_earnings_msats_total 21000"))
        #expect(text.contains("pylon stopped"))
    }
}

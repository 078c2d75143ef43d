import PylonBasics
import Testing

@Suite("Amounts in sats")
struct SatsTests {
    @Test("whole sats without a fraction, never grouped")
    func wholeSats() {
        #expect(Sats.text(0) == "0 sats")
        #expect(Sats.text(1000) == "1 sats")
        #expect(Sats.text(21000) == "21 sats")
        #expect(Sats.text(1_234_567_000) == "1234567 sats")
    }

    @Test("millisatoshis as three digits after a dot")
    func fractions() {
        #expect(Sats.text(1) == "0.001 sats")
        #expect(Sats.text(10) == "0.010 sats")
        #expect(Sats.text(999) == "0.999 sats")
        #expect(Sats.text(1500) == "1.500 sats")
        #expect(Sats.text(21_001) == "21.001 sats")
    }

    @Test("a negative amount keeps its sign, under one sat too")
    func negative() {
        #expect(Sats.text(-2000) == "-2 sats")
        #expect(Sats.text(-1500) == "-1.500 sats")
        #expect(Sats.text(-1) == "-0.001 sats")
        #expect(Sats.text(.min) == "-9223372036854775.808 sats")
        #expect(Sats.text(.max) == "9223372036854775.807 sats")
    }
}

/// Amounts for people: sats, with the millisatoshis when they are not whole (`21 sats`,
/// `0.001 sats`, `-1.500 sats`). The same text in every locale: no grouping, a `.` before the
/// three digits of millisatoshis. The CLI prints it and a provider's payment-required feedback
/// says it.
public enum Sats {
    public static func text(_ msats: Int64) -> String {
        let sign = msats < 0 ? "-" : ""
        let whole = msats.magnitude / 1000
        let fraction = msats.magnitude % 1000
        guard fraction != 0 else { return "\(sign)\(whole) sats" }
        let digits = String(fraction)
        return "\(sign)\(whole).\(String(repeating: "0", count: 3 - digits.count))\(digits) sats"
    }
}

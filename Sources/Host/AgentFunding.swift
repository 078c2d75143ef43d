public import PylonStore

/// An agent's lifecycle state from its funds (SPEC §9): spawning (never funded) → active → low
/// balance (under 7 days of runway) → dormant (no funds), revived by funding. An agent whose
/// budget is 0 buys only from free providers and is active without funds.
public enum AgentFunding {
    /// The runway under which an agent is `low_balance`: 7 days.
    public static let runwaySecs: Int64 = 7 * 86_400

    /// - Parameters:
    ///   - balanceMsats: what the agent's wallet holds; nil without a wallet.
    ///   - averageTickCostMsats: what its ticks cost on average; nil before its first paid tick
    ///     (the budget stands in for it).
    ///   - hasSpent: whether it ever paid for a tick (a wallet emptied is dormant, one never
    ///     filled is still spawning).
    public static func state(
        budgetMsats: Int64, balanceMsats: Int64?, averageTickCostMsats: Int64?, intervalSecs: Int, hasSpent: Bool
    ) -> AgentState {
        guard budgetMsats > 0 else { return .active }
        guard let balance = balanceMsats, balance > 0 else { return hasSpent ? .dormant : .spawning }
        let cost = max(1, min(averageTickCostMsats ?? budgetMsats, budgetMsats))
        let (ticksLeft, _) = balance.dividedReportingOverflow(by: cost)
        let (runway, overflow) = ticksLeft.multipliedReportingOverflow(by: Int64(max(intervalSecs, 1)))
        return !overflow && runway < runwaySecs ? .lowBalance : .active
    }

    /// Whether an agent in this state ticks.
    public static func ticks(in state: AgentState) -> Bool {
        state == .active || state == .lowBalance
    }
}

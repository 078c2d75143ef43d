import Host
import PylonStore
import Testing

/// An agent's state from its funds (SPEC §9).
@Suite("host: an agent's state from its funds")
struct AgentFundingTests {
    @Test("free agents are active; unfunded ones spawn; emptied ones sleep; under 7 days of ticks is low balance")
    func states() {
        #expect(AgentFunding.state(budgetMsats: 0, balanceMsats: nil, averageTickCostMsats: nil, intervalSecs: 60, hasSpent: false) == .active)
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: nil, averageTickCostMsats: nil, intervalSecs: 60, hasSpent: false) == .spawning)
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: 0, averageTickCostMsats: nil, intervalSecs: 60, hasSpent: false) == .spawning)
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: 0, averageTickCostMsats: 900, intervalSecs: 60, hasSpent: true) == .dormant)
        // 7 days at one tick an hour is 168 ticks.
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: 167 * 1000, averageTickCostMsats: 1000, intervalSecs: 3600, hasSpent: true) == .lowBalance)
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: 168 * 1000, averageTickCostMsats: 1000, intervalSecs: 3600, hasSpent: true) == .active)
        // Cheaper ticks than the budget stretch the runway; the budget caps what one costs.
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: 84 * 1000, averageTickCostMsats: 500, intervalSecs: 3600, hasSpent: true) == .active)
        #expect(AgentFunding.state(budgetMsats: 1000, balanceMsats: 100 * 1000, averageTickCostMsats: 5000, intervalSecs: 3600, hasSpent: true) == .lowBalance)
        #expect(AgentFunding.state(budgetMsats: 1, balanceMsats: .max, averageTickCostMsats: 1, intervalSecs: .max, hasSpent: true) == .active, "no overflow")
        #expect(AgentFunding.ticks(in: .active) && AgentFunding.ticks(in: .lowBalance))
        #expect(!AgentFunding.ticks(in: .dormant) && !AgentFunding.ticks(in: .spawning) && !AgentFunding.ticks(in: .stopped))
    }
}

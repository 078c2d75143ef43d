public import NostrCore
public import Payments
public import PylonBasics
public import PylonStore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Paying a provider (SPEC §8, issue 17 item 5): only an invoice for exactly the amount asked,
/// within the buyer's limit and bid, not expired; its payment hash is recorded before the payment
/// goes out, so a retry or a restart never pays a second invoice for one job.
extension BuyerSession {
    /// Checks the invoice of `amount` against the limits; the decoded invoice, or why not.
    public static func checkPayment(_ amount: JobAmount, job: BuyerJob, maxMsats: Int64, now: Int64) throws(BuyerError) -> BOLT11Invoice {
        guard let text = amount.bolt11 else { throw BuyerError(.paymentRefused, "the provider asked \(amount.msats) msats without an invoice") }
        let invoice = try BOLT11Invoice(text) { BuyerError(.paymentRefused, "the provider's invoice is not valid: \($0.message)") }
        guard let invoiced = invoice.amountMsats, invoiced == amount.msats else {
            throw BuyerError(
                .paymentRefused,
                "the provider asked \(amount.msats) msats but its invoice is for \(invoice.amountMsats.map { "\($0) msats" } ?? "any amount")")
        }
        guard invoiced <= maxMsats else {
            throw BuyerError(
                .paymentRefused, "the provider asks \(invoiced) msats, more than the limit of \(maxMsats) msats",
                remedy: "raise it with --max-msats if that is fine")
        }
        if let bid = job.bidMsats, invoiced > bid {
            throw BuyerError(.paymentRefused, "the provider asks \(invoiced) msats, more than the bid of \(bid) msats")
        }
        guard !invoice.isExpired(now: now) else { throw BuyerError(.paymentRefused, "the provider's invoice has expired") }
        if let recorded = job.paymentHash, recorded != invoice.paymentHash.hex {
            throw BuyerError(.paymentRefused, "this job is already paid, or being paid, with another invoice (\(recorded.prefix(16))…)")
        }
        return invoice
    }

    /// Pays `amount` for `job` from `wallet`; the msats paid. An invoice this job already paid is
    /// not paid again: the wallet's record of it is looked up instead.
    /// Each refusal and each payment is journaled (`payment.refused`, `payment.sent`).
    public func pay(_ job: inout BuyerJob, amount: JobAmount, wallet: WalletClient, maxMsats: Int64) async throws(BuyerError) -> Int64 {
        let invoice: BOLT11Invoice
        do {
            invoice = try Self.checkPayment(amount, job: job, maxMsats: maxMsats, now: Int64(Date().timeIntervalSince1970))
        } catch {
            journal(.paymentRefused, job: job, amountMsats: amount.msats, paymentHash: nil, reason: error.message)
            throw error
        }
        let hash = invoice.paymentHash.hex
        if job.paymentHash == hash, job.amountPaidMsats > 0 { return job.amountPaidMsats }
        if job.paymentHash == hash, let earlier = try? await wallet.lookupInvoice(paymentHash: hash), earlier.isSettled {
            job.amountPaidMsats = earlier.amountMsats
            save(&job)
            return earlier.amountMsats
        }
        job.paymentHash = hash
        save(&job)
        do {
            _ = try await wallet.payInvoice(invoice)
        } catch {
            job.error = "the payment failed: \(error.description)"
            save(&job)
            journal(.paymentRefused, job: job, amountMsats: amount.msats, paymentHash: hash, reason: job.error)
            throw BuyerError(.paymentFailed, "the wallet could not pay \(invoice.amountMsats ?? 0) msats: \(error.description)", cause: error)
        }
        job.amountPaidMsats = invoice.amountMsats ?? amount.msats
        job.error = nil
        save(&job)
        journal(.paymentSent, job: job, amountMsats: job.amountPaidMsats, paymentHash: hash)
        return job.amountPaidMsats
    }

    private func journal(_ kind: JournalKind, job: BuyerJob, amountMsats: Int64, paymentHash: String?, reason: String? = nil) {
        var data: [JSON.Member] = [
            .init("job_id", .string(job.id.hex)), .init("provider", job.provider.map { .string($0.hex) } ?? .null),
            .init("amount_msats", .integer(amountMsats)), .init("payment_hash", paymentHash.map(JSON.string) ?? .null),
        ]
        if let reason { data.append(.init("reason", .string(reason))) }
        _ = try? store?.append(kind: kind, data: .object(data))
    }
}

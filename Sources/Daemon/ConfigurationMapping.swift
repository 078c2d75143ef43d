public import Backends
import NostrCore
public import Provider
import PylonBasics
public import RelayPool

/// TOML (`PylonConfiguration`) onto each module's own `Configuration` (STYLE §1): the modules
/// never see TOML, and a reload hands them new values.
extension PylonConfiguration {
    /// The relay pool's settings; an invalid relay URL is a configuration error naming it.
    public func relayPoolConfiguration(file: String) throws(ConfigurationError) -> RelayPool.Configuration {
        var urls: [RelayURL] = []
        for text in relays {
            do {
                let url = try RelayURL(text)
                if !urls.contains(url) { urls.append(url) }
            } catch {
                throw ConfigurationError(.invalidValue, file: file, issues: [.init(key: "relays", message: error.message)])
            }
        }
        return RelayPool.Configuration(relays: urls)
    }

    /// The backend registry's settings (`[backends]` plus `[provider].default_model`).
    public var backendConfiguration: BackendRegistry.Configuration {
        BackendRegistry.Configuration(
            preference: backends.preference.map(\.rawValue),
            ollamaURL: backends.ollamaURL,
            llamacppURL: backends.llamacppURL,
            openaiURL: backends.openaiURL,
            openaiAPIKeyEnv: backends.openaiAPIKeyEnv,
            defaultModel: provider.defaultModel)
    }

    /// The provider's settings (`[provider]`).
    public var providerConfiguration: ProviderConfiguration {
        var configuration = ProviderConfiguration(
            kinds: provider.kinds.map { Kind(UInt16($0)) }, priceMsats: Int64(clamping: provider.priceMsats),
            slots: provider.maxConcurrentJobs, maxQueue: provider.maxQueue, jobTimeout: .seconds(provider.jobTimeoutSecs),
            maxInputBytes: provider.maxInputBytes, maxRequestAge: Int64(provider.maxRequestAgeSecs),
            rateLimitPerMinute: provider.rateLimitPerMinute, allowURLInputs: provider.allowURLInputs, announce: provider.announce,
            name: provider.name, about: provider.about)
        configuration.invoiceExpirySecs = Int64(wallet.invoiceExpirySecs)
        return configuration
    }
}

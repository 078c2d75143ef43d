/// The commented `config.toml` that `pylon init` writes: every key with its default (SPEC §4).
public enum DefaultConfiguration {
    public static let text = """
        # pylon configuration. Every key is optional; the values below are the defaults.
        # Reload after editing with `pylon reload` (or SIGHUP); the daemon also notices file changes.

        # Relays to read job requests from and publish results to.
        relays = ["wss://relay.damus.io", "wss://nos.lol", "wss://relay.primal.net"]

        [provider]
        kinds = [5050]                 # job kinds served (5050 text generation; 5000, 5001, 5002 also known)
        price_msats = 0                # per job; 0 = free; > 0 needs [wallet]
        max_concurrent_jobs = 2        # jobs running at once
        max_queue = 64                 # jobs waiting; more are refused with "busy"
        job_timeout_secs = 120         # deadline per job
        max_input_bytes = 16384        # larger inputs are refused
        max_request_age_secs = 600     # older requests are ignored
        default_model = ""             # "" = the first model of the first ready backend
        announce = true                # NIP-89 handler info and a heartbeat every 300 s
        name = "pylon"                 # shown in the NIP-89 announcement
        about = ""

        [backends]
        preference = ["apple_fm", "ollama", "llamacpp", "openai"]
        ollama_url = "http://127.0.0.1:11434"
        llamacpp_url = "http://127.0.0.1:8080"
        openai_url = ""                # any OpenAI-compatible server; "" = off
        openai_api_key_env = "OPENAI_API_KEY"

        [wallet]
        nwc = ""                       # nostr+walletconnect://... (or nwc_file = "path")

        [http]
        listen = "127.0.0.1:3000"      # metrics and health; "" disables

        [log]
        level = "info"                 # PYLON_LOG overrides: trace|debug|info|notice|warning|error|critical
        format = "text"                # or "json"

        """
}

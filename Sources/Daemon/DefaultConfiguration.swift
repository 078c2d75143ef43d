extension PylonConfiguration {
    /// The commented `config.toml` that `pylon init` writes: every key at its default, with what it
    /// does. Parsing it gives exactly ``defaults`` (a test holds this).
    public static let defaultFileText = """
        # pylon configuration. Every key is optional: a missing key takes the default shown here.
        # After an edit the running daemon reloads it (or run `pylon reload`); only [http].listen
        # and the [log] file limits need a restart.

        # Relays to serve jobs on and publish to (wss:// or ws://).
        relays = ["wss://relay.damus.io", "wss://nos.lol", "wss://relay.primal.net"]

        [provider]
        kinds = [5050]                   # NIP-90 job kinds served (5000-5999)
        price_msats = 0                  # per job; 0 = free; > 0 needs [wallet]
        max_concurrent_jobs = 2          # jobs running at once
        max_queue = 64                   # jobs waiting for a slot; more are refused as "busy"
        job_timeout_secs = 120           # a job running longer fails
        max_input_bytes = 16384          # larger inputs are refused
        max_request_age_secs = 600       # older requests are ignored
        default_model = ""               # "" = the first model of the preferred backend
        announce = true                  # NIP-89 handler info + heartbeat
        name = "pylon"                   # shown in the NIP-89 announcement
        about = ""                       # shown in the NIP-89 announcement
        rate_limit_per_minute = 30       # requests one customer may make per minute; 0 = no limit
        allow_url_inputs = false         # fetch `url` inputs (http/https, text only)

        [backends]
        preference = ["apple_fm", "ollama", "llamacpp", "openai"]   # tried in this order
        ollama_url = "http://127.0.0.1:11434"
        llamacpp_url = "http://127.0.0.1:8080"
        openai_url = ""                  # any OpenAI-compatible server ("" = none)
        openai_api_key_env = "OPENAI_API_KEY"   # the environment variable holding its API key

        [wallet]
        nwc = ""                         # nostr+walletconnect://... (NIP-47); a secret: keep this file private
        # nwc_file = "nwc.secret"        # or read the URI from a file (relative to this directory)

        [http]
        listen = "127.0.0.1:3000"        # /metrics, /healthz, /readyz; "" disables

        [log]
        level = "info"                   # trace|debug|info|notice|warning|error|critical; PYLON_LOG overrides
        format = "text"                  # or "json": one JSON object per line
        max_size_mb = 10                 # logs/pylon.log is rotated when it would grow past this (MB)
        max_files = 5                    # rotated files kept: pylon.log.1 (newest) … pylon.log.5

        """
}

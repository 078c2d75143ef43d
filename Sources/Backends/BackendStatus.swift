/// Whether a backend can take requests.
public enum BackendState: String, Sendable, Hashable, Codable {
    case ready
    case unavailable
}

/// One backend as `pylon status` and `pylon doctor` show it (SPEC §12:
/// `{"name", "url", "state", "models"}`), plus the reason it is unavailable.
public struct BackendStatus: Sendable, Equatable {
    public var name: String
    /// The configured base URL ("" for Apple Foundation Models). Never holds credentials.
    public var url: String
    public var state: BackendState
    /// The models it serves; empty while unavailable.
    public var models: [String]
    /// Why it is unavailable (the last error's message), nil when ready.
    public var lastError: String?
    /// The last error's code, nil when ready.
    public var lastErrorCode: BackendError.Code?
    /// Whether a detection has run since the backend was configured (before that it shows as
    /// `unavailable` with no error).
    public var detected: Bool

    public init(
        name: String,
        url: String,
        state: BackendState,
        models: [String],
        lastError: String? = nil,
        lastErrorCode: BackendError.Code? = nil,
        detected: Bool = true
    ) {
        self.name = name
        self.url = url
        self.state = state
        self.models = models
        self.lastError = lastError
        self.lastErrorCode = lastErrorCode
        self.detected = detected
    }
}

/// A backend went up or down: what the daemon journals as `backend.up` / `backend.down`.
public struct BackendStateChange: Sendable, Equatable {
    public var backend: String
    public var url: String
    /// The new state.
    public var state: BackendState
    /// The models it serves now (empty when down).
    public var models: [String]
    /// Why it went down; nil when up.
    public var reason: String?
    public var errorCode: BackendError.Code?

    public init(
        backend: String,
        url: String,
        state: BackendState,
        models: [String],
        reason: String? = nil,
        errorCode: BackendError.Code? = nil
    ) {
        self.backend = backend
        self.url = url
        self.state = state
        self.models = models
        self.reason = reason
        self.errorCode = errorCode
    }
}

/// Where a request goes: the backend and the exact model name it lists.
public struct BackendRoute: Sendable {
    public let backend: any InferenceBackend
    /// The model as the backend lists it (a request for `llama3.2` routes to `llama3.2:latest`).
    public let model: String
    /// The backend's name.
    public var backendName: String { backend.name }

    let entryID: UInt64
    let metrics: BackendMetrics
}

enum ModelName {
    /// Whether a requested model name means a listed one: the same name, or Ollama's implicit
    /// `:latest` tag.
    static func matches(requested: String, listed: String) -> Bool {
        listed == requested || (listed.hasSuffix(":latest") && listed.dropLast(7) == requested)
    }
}

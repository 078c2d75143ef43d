public import Backends
public import NostrCore

/// What each served kind asks of the model (SPEC §8, the registry's `kinds/*.md`): the messages
/// for one job from its resolved input text and params.
public enum JobPrompt {
    /// Kinds with a prompt of their own; any other kind in 5000-5999 is served as text generation.
    public static let textGeneration: Kind = 5050
    public static let extraction: Kind = 5000
    public static let summarization: Kind = 5001
    public static let translation: Kind = 5002

    /// The messages for a job of `kind` whose inputs, resolved to text, are `texts`.
    public static func messages(kind: Kind, texts: [String], parameters: JobParameters) -> [ChatMessage] {
        let joined = texts.joined(separator: "\n\n")
        switch kind {
        case extraction:
            return [
                ChatMessage(
                    role: .system,
                    content: "You extract text. Return only the main text content of the input, without commentary, markup or navigation."),
                ChatMessage(role: .user, content: joined),
            ]
        case summarization:
            let length = parameters.length.map { " The summary should be about \($0) long." } ?? ""
            return [
                ChatMessage(
                    role: .system,
                    content: "You summarize text. Write a faithful summary of the input in its own language.\(length) Return only the summary."),
                ChatMessage(role: .user, content: joined),
            ]
        case translation:
            let language = languageName(parameters.language ?? "en")
            return [
                ChatMessage(
                    role: .system,
                    content: "You translate text. Translate the input into \(language). Return only the translation, keeping the meaning and tone."),
                ChatMessage(role: .user, content: joined),
            ]
        default:
            return [ChatMessage(role: .user, content: joined)]
        }
    }

    /// An ISO 639-1 code as the language's English name, for the prompt; anything else as given.
    static func languageName(_ code: String) -> String {
        let names = [
            "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese", "nl": "Dutch",
            "ru": "Russian", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish",
            "pl": "Polish", "sv": "Swedish", "uk": "Ukrainian", "cs": "Czech", "el": "Greek", "he": "Hebrew", "id": "Indonesian",
            "vi": "Vietnamese", "th": "Thai", "fa": "Persian", "da": "Danish", "fi": "Finnish", "no": "Norwegian", "ro": "Romanian",
            "hu": "Hungarian",
        ]
        return names[code.lowercased()] ?? code
    }
}

public import PylonBasics

/// Why the watcher could not start.
public typealias ConfigFileWatcherError = PylonError<ConfigFileWatcherErrorCode>

public enum ConfigFileWatcherErrorCode: String, PylonErrorCode {
    /// inotify (or kqueue) refused: no instance, no watch, no pipe.
    case watchFailed = "watch_failed"
}

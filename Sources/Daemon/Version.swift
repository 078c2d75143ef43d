/// pylon's version, shown by `--version`, `status` and the NIP-89 announcement.
public enum PylonVersion {
    public static let current = "0.1.0"
}

/// PylonTestSupport: fakes and real peers for tests only (STYLE §8): test homes, the built
/// binary, Python peers (nostr-sdk, nostr-relay), relays and mock servers.

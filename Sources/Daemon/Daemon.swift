import NostrCore

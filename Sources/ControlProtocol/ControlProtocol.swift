// ControlProtocol: the control-socket messages (`ControlRequest`, `ControlResponse`), the shared
// `StatusReport` and `JournalEntry` types, and `ControlClient`. Imports only PylonBasics, Foundation
// and the C library, so the CLI can talk to the daemon without linking the daemon's dependencies.
//
// The wire format is one JSON value per line in each direction, with the seed's externally tagged
// shapes (`{"Ping":null}`, `{"Status":{...}}`). The JSON value, its parser and writer, the line
// splitter, RFC 3339 times and the journal kinds are PylonBasics', shared with the daemon and the
// store; this module maps them onto typed messages (`JSONRepresentable`, `ObjectReader`) and gives
// a malformed request a precise message.
//
// Files: ControlRequest / ControlResponse (the messages), StatusReport and JournalEntry (shared with
// `pylon status --json` and `pylon events --json`), ControlClient (the CLI's side),
// JSONRepresentable and ObjectReader (typed JSON), the errors.

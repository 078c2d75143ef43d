// ControlProtocol: the control-socket messages (`ControlRequest`, `ControlResponse`), the shared
// `StatusReport` and `JournalEntry` types, and `ControlClient`. Imports nothing but Foundation and the
// C library, so the CLI can talk to the daemon without linking the daemon's dependencies.
//
// The wire format is one JSON value per line in each direction, with the seed's externally tagged
// shapes (`{"Ping":null}`, `{"Status":{...}}`). A small JSON reader and writer live here so that the
// output is compact, one line, keeps field order, never escapes `/`, and so that a malformed request
// gets a precise message.
//
// Files: ControlRequest / ControlResponse (the messages), StatusReport and JournalEntry (shared with
// `pylon status --json` and `pylon events --json`), ControlClient (the CLI's side), JSONValue and
// JSONText (the JSON reader and writer), RFC3339 (times).

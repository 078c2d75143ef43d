# shellcheck shell=bash
# nostr-relay (PyPI) as pylon's scripts run it (scripts/lib/peers.sh, scripts/demo.sh). Sourced.

# nostr_relay_config DIR PORT NAME: DIR/config.yaml for nostr-relay on 127.0.0.1:PORT, its events in
# DIR/nostr.sqlite3, signatures checked, no rate limits.
nostr_relay_config() {
    cat > "$1/config.yaml" <<EOF
DEBUG: false
relay_name: $3
storage:
  sqlalchemy.url: sqlite+aiosqlite:///$1/nostr.sqlite3
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
gunicorn:
  bind: 127.0.0.1:$2
  workers: 1
authentication:
  enabled: false
max_event_size: 131072
subscription_limit: 64
message_timeout: 1800
EOF
}

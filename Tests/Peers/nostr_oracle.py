"""An independent Nostr implementation (rust-nostr through the `nostr-sdk` Python package) that
pylon's tests ask to check pylon's output and to produce input for pylon.

Reads one JSON array of requests on stdin, writes one JSON array of answers on stdout.
Each request is {"op": ..., ...}; each answer is {"ok": value} or {"error": "message"}.
"""
import json
import sys

from nostr_sdk import (
    Event, EventBuilder, Keys, Kind, Nip44Version, PublicKey, SecretKey, Tag, Timestamp,
    nip04_decrypt, nip04_encrypt, nip44_decrypt, nip44_encrypt,
)


def keys(sk_hex):
    return Keys(SecretKey.parse(sk_hex))


def handle(req):
    op = req["op"]
    if op == "verify_event":
        ev = Event.from_json(req["json"])
        return {"id": ev.verify_id(), "signature": ev.verify_signature(), "verify": ev.verify(),
                "content": ev.content(), "id_hex": ev.id().to_hex()}
    if op == "sign_event":
        builder = EventBuilder(Kind(req["kind"]), req["content"]).tags([Tag.parse(t) for t in req["tags"]])
        builder = builder.custom_created_at(Timestamp.from_secs(req["created_at"]))
        return builder.finalize(keys(req["sk"])).as_json()
    if op == "public_key":
        return keys(req["sk"]).public_key().to_hex()
    if op == "nip44_encrypt":
        return nip44_encrypt(SecretKey.parse(req["sk"]), PublicKey.parse(req["pk"]), req["plaintext"], Nip44Version.V2)
    if op == "nip44_decrypt":
        return nip44_decrypt(SecretKey.parse(req["sk"]), PublicKey.parse(req["pk"]), req["payload"])
    if op == "nip04_encrypt":
        return nip04_encrypt(SecretKey.parse(req["sk"]), PublicKey.parse(req["pk"]), req["plaintext"])
    if op == "nip04_decrypt":
        return nip04_decrypt(SecretKey.parse(req["sk"]), PublicKey.parse(req["pk"]), req["content"])
    if op == "from_mnemonic":
        k = Keys.from_mnemonic(req["mnemonic"], req.get("passphrase"), req.get("account"))
        return {"sk": k.secret_key().to_hex(), "pk": k.public_key().to_hex()}
    raise ValueError("unknown op " + op)


def main():
    answers = []
    for req in json.load(sys.stdin):
        try:
            answers.append({"ok": handle(req)})
        except Exception as exc:  # noqa: BLE001 - every failure is an answer for the test to judge
            answers.append({"error": str(exc)})
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()

"""Generates signed BOLT #11 invoices with the `bolt11` package, as a second implementation to
check pylon's decoder against (NostrCoreTests' BOLT11 tests).

  bolt11_invoices.py COUNT SEED

Prints one JSON array: for each invoice its text and what bolt11 decodes from it (network,
amount_msats or null, timestamp, payment_hash, description or description_hash, expiry,
min_final_cltv_expiry, payee). The invoices vary the currency, the amount and its multiplier
(including none, and p with a trailing zero), the description (ASCII, multi-byte, empty) or its
hash, the expiry and the CLTV delta, whether the payee's key is written (n) or recovered, and the
signing key.
"""
import hashlib
import json
import random
import sys

from bolt11 import Bolt11, MilliSatoshi, Tag, TagChar, Tags, decode, encode
from coincurve import PrivateKey

count, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
texts = ["job 7f3a: 16 tokens", "1 cup coffee", "ナンセンス 1杯", "naïve café — ok", "", "x" * 300]
out = []
for index in range(count):
    key = PrivateKey(rng.randbytes(32))
    currency = rng.choice(["bc", "tb", "tbs", "bcrt"])
    amount = rng.choice([None, rng.randint(1, 10_000) * 1000, rng.randint(1, 2_000_000_000_000), 10, 1, 123_456_789])
    tags = Tags()
    tags.add(TagChar.payment_hash, hashlib.sha256(rng.randbytes(32)).hexdigest())
    tags.add(TagChar.payment_secret, rng.randbytes(32).hex())
    if rng.random() < 0.8:
        tags.add(TagChar.description, rng.choice(texts))
    else:
        tags.add(TagChar.description_hash, hashlib.sha256(rng.choice(texts).encode()).hexdigest())
    if rng.random() < 0.7:
        tags.add(TagChar.expire_time, rng.choice([1, 60, 600, 3600, 86_400, 604_800, 31_536_000]))
    if rng.random() < 0.5:
        tags.add(TagChar.min_final_cltv_expiry, rng.choice([9, 18, 40, 144]))
    if rng.random() < 0.5:
        tags.add(TagChar.payee, key.public_key.format(compressed=True).hex())
    invoice = Bolt11(currency=currency, date=rng.randint(1_496_314_658, 1_900_000_000), tags=tags,
                     amount_msat=MilliSatoshi(amount) if amount is not None else None)
    text = encode(invoice, key.secret.hex(), keep_payee=True)
    back = decode(text)
    out.append({
        "invoice": text,
        "network": currency,
        "amount_msats": back.amount_msat,
        "timestamp": back.date,
        "payment_hash": back.payment_hash,
        "description": back.description,
        "description_hash": back.description_hash,
        "expiry": back.expiry,
        "min_final_cltv_expiry": back.min_final_cltv_expiry,
        "payee": key.public_key.format(compressed=True).hex(),
        "decoded_payee": back.payee,
    })
json.dump(out, sys.stdout)

#!/usr/bin/env python3
"""Writes the seed corpus of the `request_parsing` fuzz target.

Each file is one channel byte (see fuzz_targets/request_parsing.rs: `0`..`9`,
`:`, `;`) and that channel's input: valid requests, the contract's edge
cases, and hostile ones. Run from anywhere; it rewrites only the files it
names, so reproducers added by hand stay.
"""
import base64
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "corpus", "request_parsing")


def cursor(after_id):
    return base64.urlsafe_b64encode(f"id:{after_id}".encode()).rstrip(b"=").decode()


SEEDS = {
    # 0: path ids
    "id-ok": b"0" + b"42",
    "id-max": b"0" + b"9223372036854775807",
    "id-over-64-bits": b"0" + b"9223372036854775808",
    "id-zero-padded": b"0" + b"0007",
    "id-float": b"0" + b"1.5",
    "id-exponent": b"0" + b"1e3",
    "id-hex": b"0" + b"0x10",
    "id-negative": b"0" + b"-1",
    "id-plus": b"0" + b"+5",
    "id-nul": b"0" + b"1\x00",
    "id-fullwidth-digit": b"0" + "１".encode(),
    # 1-3: query strings
    "users-query-page": b"1" + f"limit=10&after={cursor(41)}".encode(),
    "users-query-email": b"1" + b"email=Ada%40Example.com&limit=200",
    "users-query-email-blank": b"1" + b"email=+%20+",
    "users-query-limit-zero": b"1" + b"limit=0",
    "users-query-limit-201": b"1" + b"limit=201",
    "users-query-limit-negative": b"1" + b"limit=-1",
    "users-query-limit-65536": b"1" + b"limit=65536",
    "users-query-twice": b"1" + b"limit=1&limit=2",
    "users-query-unknown": b"1" + b"page=2",
    "users-query-nul": b"1" + b"email=a%00b%40example.com",
    "users-query-lone-surrogate": b"1" + b"email=%ED%A0%80",
    "users-query-bad-utf8": b"1" + b"email=%FF%FE",
    "users-query-empty-pairs": b"1" + b"&&limit=5&",
    "orders-query-all": b"2" + f"user_id=1&status=paid&limit=50&after={cursor(7)}".encode(),
    "orders-query-user-zero": b"2" + b"user_id=0",
    "orders-query-user-huge": b"2" + b"user_id=99999999999999999999",
    "orders-query-status-case": b"2" + b"status=Paid",
    "orders-query-status-plus": b"2" + b"status=paid+",
    "orders-query-bad-cursor": b"2" + b"after=not-a-cursor",
    "orders-query-negative-cursor": b"2" + f"after={cursor(-3)}".encode(),
    "user-orders-query-ok": b"3" + b"status=cancelled&limit=1",
    "user-orders-query-user-id": b"3" + b"user_id=1",
    # 4: POST /users
    "user-create-ok": b"4" + b'{"email": "ada@example.com", "name": "Ada"}',
    "user-create-padded": b"4" + b'{"email": "  Ada@Example.com ", "name": "  Ada Lovelace  "}',
    "user-create-unicode": b"4" + '{"email":"zoë@exämple.com","name":"Zoë 🚀"}'.encode(),
    "user-create-unknown-field": b"4" + b'{"email":"a@b.co","name":"A","admin":true}',
    "user-create-null-name": b"4" + b'{"email":"a@b.co","name":null}',
    "user-create-nul-name": b"4" + b'{"email":"a@b.co","name":"A\\u0000"}',
    "user-create-lone-surrogate": b"4" + b'{"email":"a@b.co","name":"\\ud800"}',
    "user-create-no-dot": b"4" + b'{"email":"ada@localhost","name":"Ada"}',
    "user-create-long-name": b"4" + json.dumps({"email": "a@b.co", "name": "é" * 201}).encode(),
    "user-create-email-254": b"4"
    + json.dumps({"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com", "name": "A"}).encode(),
    "user-create-array": b"4" + b"[]",
    "user-create-number": b"4" + b"42",
    "user-create-null": b"4" + b"null",
    "user-create-blank": b"4" + b" \n\t ",
    "user-create-truncated": b"4" + b'{"email": "ada@example.com", "na',
    "user-create-duplicate-key": b"4" + b'{"email":"a@b.co","email":"x","name":"A"}',
    "user-create-deep": b"4" + b"[" * 200 + b"]" * 200,
    # 5: PUT/PATCH /users/{id}
    "user-patch-name": b"5" + b'{"name": "Grace"}',
    "user-patch-email": b"5" + b'{"email": "grace@example.org"}',
    "user-patch-empty": b"5" + b"{}",
    "user-patch-null": b"5" + b'{"email": null}',
    "user-patch-control": b"5" + b'{"name": "a\\u001bb"}',
    # 6: POST /orders
    "order-create-ok": b"6"
    + b'{"user_id": 1, "currency": "EUR", "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": 1250}]}',
    "order-create-default-currency": b"6"
    + b'{"user_id": 3, "items": [{"sku": "A", "quantity": 1, "unit_price": 0}, {"sku": "B", "quantity": 10000, "unit_price": 100000000}]}',
    "order-create-max": b"6"
    + json.dumps({"user_id": 9223372036854775807, "items": [{"sku": "X" * 64, "quantity": 10000, "unit_price": 100000000}] * 100}).encode(),
    "order-create-101-items": b"6"
    + json.dumps({"user_id": 1, "items": [{"sku": "X", "quantity": 1, "unit_price": 1}] * 101}).encode(),
    "order-create-no-items": b"6" + b'{"user_id": 1, "items": []}',
    "order-create-total": b"6" + b'{"user_id": 1, "total": 5, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}',
    "order-create-item-colour": b"6"
    + b'{"user_id": 1, "items": [{"sku": "A", "quantity": 1, "unit_price": 1, "colour": "red"}]}',
    "order-create-string-qty": b"6" + b'{"user_id": 1, "items": [{"sku": "A", "quantity": "2", "unit_price": 1}]}',
    "order-create-float-qty": b"6" + b'{"user_id": 1, "items": [{"sku": "A", "quantity": 2.0, "unit_price": 1}]}',
    "order-create-bool-user": b"6" + b'{"user_id": true, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}',
    "order-create-big-number": b"6" + b'{"user_id": 1e400, "items": []}',
    "order-create-u64-user": b"6"
    + b'{"user_id": 18446744073709551615, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}',
    "order-create-negative-price": b"6" + b'{"user_id": 1, "items": [{"sku": "A", "quantity": 1, "unit_price": -1}]}',
    "order-create-currency-lower": b"6" + b'{"user_id": 1, "currency": "usd", "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}',
    "order-create-currency-unknown": b"6" + b'{"user_id": 1, "currency": "ZZZ", "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}',
    "order-create-sku-blank": b"6" + b'{"user_id": 1, "items": [{"sku": "   ", "quantity": 1, "unit_price": 1}]}',
    "order-create-sku-tab": b"6" + b'{"user_id": 1, "items": [{"sku": "A\\tB", "quantity": 1, "unit_price": 1}]}',
    "order-create-item-not-object": b"6" + b'{"user_id": 1, "items": [1, null, "x"]}',
    # 7: PUT/PATCH /orders/{id}
    "order-move-paid": b"7" + b'{"status": "paid"}',
    "order-move-unknown-status": b"7" + b'{"status": "refunded"}',
    "order-move-extra": b"7" + b'{"status": "paid", "note": "x"}',
    "order-move-number": b"7" + b'{"status": 1}',
    # 8: Idempotency-Key: a length byte, the key, the body
    "key-ok": b"8" + bytes([36]) + b"0b7a4c9e-5d1f-4a8e-9c3b-2f6d8e1a7b40" + b'{"email":"a@b.co","name":"A"}',
    "key-255": b"8" + bytes([255]) + b"k" * 255 + b"{}",
    "key-empty": b"8" + bytes([0]) + b"{}",
    "key-tab": b"8" + bytes([3]) + b"a\tb" + b"{}",
    "key-latin1": b"8" + bytes([3]) + b"a\xe9b" + b"{}",
    "key-del": b"8" + bytes([3]) + b"a\x7fb",
    # 9: If-Match, one value per line
    "if-match-issued": b"9" + b'"v1764000000123456"',
    "if-match-list": b"9" + b'"v1", W/"v2", "abc"\n"v3"',
    "if-match-star": b"9" + b'"v1", *',
    "if-match-made-up": b"9" + b'"xyzzy"',
    "if-match-weak": b"9" + b'W/"v1"',
    "if-match-overflow": b"9" + b'"v99999999999999999999"',
    "if-match-non-ascii": b"9" + b'"v1\xff"\n*',
    # ':' Content-Type
    "type-json": b":" + b"application/json",
    "type-charset": b":" + b'Application/JSON; charset="UTF-8"',
    "type-latin1": b":" + b"application/json; charset=latin1",
    "type-jsonx": b":" + b"application/jsonx",
    "type-empty-params": b":" + b"application/json;;",
    # ';' cursors: 8 bytes of an id, then a cursor string
    "cursor-issued": b";" + struct.pack("<q", 41) + cursor(41).encode(),
    "cursor-max": b";" + struct.pack("<q", 2**63 - 1) + cursor(2**63 - 1).encode(),
    "cursor-zero-padded": b";" + struct.pack("<q", 0) + cursor("007").encode(),
    "cursor-padded-base64": b";" + struct.pack("<q", 5) + base64.urlsafe_b64encode(b"id:5"),
    "cursor-plain-id": b";" + struct.pack("<q", 1) + b"42",
    "cursor-garbage": b";" + struct.pack("<q", -1) + b"!!!",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()

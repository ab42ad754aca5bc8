"""Writes the hostile-input corpus (tests/corpus/hostile) and its manifest of expected outcomes.
The files are committed; run this again only to change them:  python3 tests/corpus/make_hostile.py"""

import gzip
import json
from pathlib import Path

OUT = Path(__file__).parent / "hostile"


def ev(i, **extra):
    e = {"eventVersion": "1.11", "eventID": f"hostile-{i}", "eventTime": "2026-03-01T10:00:00Z",
         "eventName": "GetObject", "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1"}
    e.update(extra)
    return e


def records(*events):
    return json.dumps({"Records": list(events)}).encode()


def nested(depth):
    value = {"leaf": True}
    for i in range(depth):
        value = {f"level{depth - i}": value}
    return value


cases = {
    # name: (bytes, expected)
    "empty.json.gz": (b"", {"bad": "empty file"}),
    "zero-length-gzip.json.gz": (gzip.compress(b""), {"bad": "empty file"}),
    "truncated.json.gz": (gzip.compress(records(ev(1), ev(2)))[:40], {"bad": "gzip data is corrupt or truncated"}),
    "gzip-of-text.json.gz": (gzip.compress(b"hello, not json"), {"bad": "not valid JSON"}),
    "not-gzip-not-json.json.gz": (b"PK\x03\x04 a zip file", {"bad": "neither gzip nor JSON"}),
    "no-records.json.gz": (gzip.compress(b'{"foo": []}'), {"bad": "no \"Records\" member"}),
    "records-not-array.json.gz": (gzip.compress(b'{"Records": {"a": 1}}'), {"bad": "\"Records\" is not an array"}),
    "record-not-object.json.gz": (gzip.compress(records(ev(3), 42)), {"bad": "record 1: not a JSON object"}),
    "invalid-utf8.json.gz": (gzip.compress(b'{"Records": [{"eventID": "x\xff\xfe"}]}'), {"bad": "invalid UTF-8"}),
    "too-deep.json.gz": (gzip.compress(records({**ev(4), "requestParameters": nested(200)})),
                         {"bad": "nesting deeper than 127 levels"}),
    "eventtime-missing.json.gz": (gzip.compress(records({k: v for k, v in ev(5).items() if k != "eventTime"})),
                                  {"events": 1, "undated": 1}),
    "eventtime-non-iso.json.gz": (gzip.compress(records(ev(6, eventTime="2026-03-01 10:00:00"))), {"events": 1}),
    "eventtime-placeholder.json.gz": (gzip.compress(records(ev(7, eventTime="..."))), {"events": 1, "undated": 1}),
    "eventtime-out-of-range.json.gz": (gzip.compress(records(ev(8, eventTime="9999-12-31T23:59:59Z"),
                                                             ev(9, eventTime="0001-01-01T00:00:00Z"))),
                                       {"events": 0, "outside": 2}),
    "eventversion-2.json.gz": (gzip.compress(records(ev(10, eventVersion="2.0", newField={"x": 1}))), {"events": 1}),
    "record-256kb.json.gz": (gzip.compress(records(ev(11, requestParameters={"policy": "x" * 262144}))), {"events": 1}),
    "nesting-11-levels.json.gz": (gzip.compress(records(ev(12, requestParameters=nested(11)))), {"events": 1}),
    "keys-100000.json.gz": (gzip.compress(records(ev(13, requestParameters={f"k{i}": i for i in range(100_000)}))),
                            {"events": 1}),
    "name-without-pattern.json.gz": (gzip.compress(records(ev(14))), {"events": 1}),
    "plain-json-delivery.json": (records(ev(15)), {"events": 1}),
    "notes.txt": (b"not a log file", {"ignored": True}),
}

OUT.mkdir(parents=True, exist_ok=True)
for old in OUT.iterdir():
    old.unlink()
manifest = {}
for name, (data, expected) in cases.items():
    (OUT / name).write_bytes(data)
    manifest[name] = expected
(OUT.parent / "hostile.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
print(f"wrote {len(cases)} files to {OUT}")

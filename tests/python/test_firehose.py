"""The Firehose transformation end to end: the real ctparquet-lambda binary under cargo-lambda's
emulator answers real-shaped Firehose batches (CloudWatch Logs subscription payloads built from
the real CloudTrail corpus in tests/data), re-ingesting into a Firehose stream of moto on 127.0.0.1."""

import base64
import gzip
import json
from pathlib import Path

import boto3
import pytest

from conftest import ROOT
from support.s3 import CREDENTIALS

REAL = ROOT / "tests/data/real-cloudtrail/invictus-aws_dataset/CloudTrail"
STREAM = "cwl-ctparquet"


def real_events():
    out = []
    for f in sorted(REAL.glob("*.json")):
        out.extend(json.dumps(r, separators=(",", ":")) for r in json.loads(f.read_text())["Records"])
    assert len(out) > 1000
    return out


def cwl_payload(messages, kind="DATA_MESSAGE", stream="218007301253_CloudTrail_us-east-1"):
    body = {"messageType": kind, "owner": "218007301253", "logGroup": "aws-cloudtrail-logs-218007301253",
            "logStream": stream, "subscriptionFilters": ["ctparquet"],
            "logEvents": [{"id": f"{i:056d}", "timestamp": 1688990000000 + i, "message": m}
                          for i, m in enumerate(messages)]}
    return base64.b64encode(gzip.compress(json.dumps(body).encode())).decode()


def firehose_event(records, region="us-east-1"):
    return {
        "invocationId": "0b2c4f1e-6f3a-4c8e-9d2b-1a2b3c4d5e6f",
        "deliveryStreamArn": f"arn:aws:firehose:{region}:123456789012:deliverystream/{STREAM}",
        "region": region,
        "records": [{"recordId": rid, "approximateArrivalTimestamp": 1688990000000, "data": data}
                    for rid, data in records],
    }


@pytest.fixture(scope="module", autouse=True)
def stream(server):
    """A Firehose stream of the server delivering to s3://firehose-out/raw/."""
    s = server
    s.client().create_bucket(Bucket="firehose-out")
    fh = boto3.client("firehose", endpoint_url=s.endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    fh.create_delivery_stream(DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut",
                              ExtendedS3DestinationConfiguration={
                                  "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                  "BucketARN": "arn:aws:s3:::firehose-out", "Prefix": "raw/"})
    return STREAM


def env(server):
    return dict(CREDENTIALS, AWS_ENDPOINT_URL=server.endpoint, RUST_LOG="info")


def reingested(server):
    """Messages of the payloads the function put back into the stream (moto delivers them to S3)."""
    s3 = server.client()
    out = []
    for obj in s3.list_objects_v2(Bucket="firehose-out", Prefix="raw/").get("Contents", []):
        body = s3.get_object(Bucket="firehose-out", Key=obj["Key"])["Body"].read()
        # moto concatenates the records of a batch; each is one gzip member of one payload.
        data = gzip.decompress(body).decode()
        decoder, pos = json.JSONDecoder(), 0
        while pos < len(data):
            payload, pos = decoder.raw_decode(data, pos)
            out.extend(e["message"] for e in payload["logEvents"])
    return out


def test_mixed_batch_every_record_answered(server, emulator):
    events = real_events()
    records = [
        ("control", cwl_payload(["CWL CONTROL MESSAGE: Checking health of destination Firehose."], kind="CONTROL_MESSAGE")),
        ("data-1", cwl_payload(events[:40])),
        ("corrupt", base64.b64encode(b"\x1f\x8b\x08\x00 corrupt gzip").decode()),
        ("data-2", cwl_payload(events[40:90])),
    ]
    with emulator.function(env(server), name="firehose-mixed") as log:
        ok, body = emulator.invoke(firehose_event(records))
    assert ok, body
    got = {r["recordId"]: r for r in body["records"]}
    assert [r["recordId"] for r in body["records"]] == [rid for rid, _ in records]
    assert got["control"]["result"] == "Dropped"
    assert got["corrupt"]["result"] == "ProcessingFailed" and got["corrupt"]["data"] == records[2][1]
    for rid, chunk in (("data-1", events[:40]), ("data-2", events[40:90])):
        r = got[rid]
        assert r["result"] == "Ok"
        assert base64.b64decode(r["data"]).decode().splitlines() == chunk
        first = json.loads(chunk[0])
        keys = r["metadata"]["partitionKeys"]
        assert keys == {"account": first["recipientAccountId"], "region": first["awsRegion"],
                        "year": first["eventTime"][:4], "month": first["eventTime"][5:7], "day": first["eventTime"][8:10]}
    assert "not gzip" in log.read_text()


def test_output_over_6_mb_is_reingested_not_dropped(server, emulator):
    events = real_events()
    everything = events * 3
    records = [(f"r{i}", cwl_payload(everything[i:i + 200])) for i in range(0, len(everything), 200)]
    with emulator.function(env(server), name="firehose-big"):
        ok, body = emulator.invoke(firehose_event(records))
    assert ok, body
    assert len(json.dumps(body).encode()) <= 6_000_000
    assert [r["recordId"] for r in body["records"]] == [rid for rid, _ in records]
    results = [r["result"] for r in body["records"]]
    assert "Dropped" in results and "Ok" in results
    answered = [line for r in body["records"] if r["result"] == "Ok"
                for line in base64.b64decode(r["data"]).decode().splitlines()]
    again = reingested(server)
    assert sorted(answered + again) == sorted(everything)

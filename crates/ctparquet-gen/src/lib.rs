//! Realistic synthetic CloudTrail delivery trees, for tests and benchmarks.
//!
//! The tree has CloudTrail's layout and habits: a gzipped `{"Records":[...]}` file about every
//! `24h / files_per_day` per account and region, named by its delivery time; events of the
//! minutes before delivery, so the first files of a day carry the previous day's last events;
//! some events delivered hours late (`addendum.reason = DELIVERY_DELAY`), a few days late; some
//! delivered twice (same eventID). Event shapes follow AWS's documented examples (sign-ins, role
//! assumptions, S3 data events, IAM changes, KMS service events, errors) across eventVersions.
//!
//! [`GenStats`] tells exactly which events exist per true day, so tests can check a conversion.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Put the accounts under `AWSLogs/ORG/` as an organization trail does.
    pub org_id: Option<String>,
    /// First delivery date.
    pub start: NaiveDate,
    /// Number of delivery dates.
    pub days: u32,
    pub files_per_day: u32,
    pub events_per_file: u32,
    /// Share of events delivered hours late (still within a day).
    pub late_fraction: f64,
    /// Share of events delivered 2 to 4 days late.
    pub very_late_fraction: f64,
    /// Share of events delivered a second time, in a later file.
    pub duplicate_fraction: f64,
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into()],
            org_id: None,
            start: NaiveDate::from_ymd_opt(2026, 1, 4).expect("valid date"),
            days: 2,
            files_per_day: 24,
            events_per_file: 20,
            late_fraction: 0.02,
            very_late_fraction: 0.001,
            duplicate_fraction: 0.01,
            seed: 1,
        }
    }
}

/// What was generated.
#[derive(Debug, Default, Clone)]
pub struct GenStats {
    pub files: u64,
    /// Records written, duplicates included.
    pub records: u64,
    pub duplicates: u64,
    pub bytes: u64,
    /// Distinct events per (account, region, true UTC day).
    pub events_by_day: BTreeMap<(String, String, NaiveDate), u64>,
    /// Distinct events per (account, region, true UTC day, days between that day and the date
    /// folder of their first delivery).
    pub events_by_lag: BTreeMap<(String, String, NaiveDate, u32), u64>,
}

impl GenStats {
    /// Distinct events per day that a conversion reading `lateness` folders after each day finds.
    pub fn expected_by_day(&self, lateness: u32) -> BTreeMap<(String, String, NaiveDate), u64> {
        let mut out = BTreeMap::new();
        for ((account, region, day, lag), n) in &self.events_by_lag {
            if *lag <= lateness {
                *out.entry((account.clone(), region.clone(), *day))
                    .or_default() += n;
            }
        }
        out
    }
}

const USERS: &[&str] = &["alice", "bob", "carol", "deploy-bot", "ci-runner", "dave"];
const ROLES: &[&str] = &[
    "AdminRole",
    "ReadOnly",
    "LambdaExec",
    "ecs-task",
    "AWSReservedSSO_PowerUser_0a1b2c",
];
const IPS: &[&str] = &[
    "198.51.100.7",
    "203.0.113.24",
    "192.0.2.55",
    "AWS Internal",
    "10.1.2.3",
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.12.2",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux api/s3#1.53.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Safari/537.36",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0",
];

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn uuid(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

fn key_id(rng: &mut StdRng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn identity(rng: &mut StdRng, account: &str, when: DateTime<Utc>) -> Value {
    match rng.random_range(0..10) {
        0..=3 => {
            let role = pick(rng, ROLES);
            let session = pick(rng, USERS);
            json!({
                "type": "AssumedRole",
                "principalId": format!("AROA{}:{session}", key_id(rng, "")),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                "accountId": account,
                "accessKeyId": key_id(rng, "ASIA"),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": format!("AROA{}", key_id(rng, "")),
                        "arn": format!("arn:aws:iam::{account}:role/{role}"),
                        "accountId": account,
                        "userName": role
                    },
                    "attributes": {
                        "creationDate": iso(when - Duration::minutes(rng.random_range(1..600))),
                        "mfaAuthenticated": if rng.random_bool(0.3) { "true" } else { "false" }
                    }
                }
            })
        }
        4..=6 => {
            let user = pick(rng, USERS);
            json!({
                "type": "IAMUser",
                "principalId": format!("AIDA{}", key_id(rng, "")),
                "arn": format!("arn:aws:iam::{account}:user/{user}"),
                "accountId": account,
                "accessKeyId": key_id(rng, "AKIA"),
                "userName": user
            })
        }
        7 => json!({
            "type": "Root",
            "principalId": account,
            "arn": format!("arn:aws:iam::{account}:root"),
            "accountId": account,
            "accessKeyId": ""
        }),
        _ => json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
    }
}

fn event(rng: &mut StdRng, account: &str, region: &str, when: DateTime<Utc>) -> Value {
    let version = ["1.08", "1.09", "1.10", "1.11", "1.05"][rng.random_range(0..5)];
    let mut e = json!({
        "eventVersion": version,
        "userIdentity": identity(rng, account, when),
        "eventTime": iso(when),
        "awsRegion": region,
        "sourceIPAddress": pick(rng, IPS),
        "userAgent": pick(rng, AGENTS),
        "requestID": uuid(rng),
        "eventID": uuid(rng),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("sts.{region}.amazonaws.com")
        }
    });
    let purpose = ["logs", "assets", "backups"][rng.random_range(0..3)];
    let bucket = format!("data-{account}-{purpose}");
    let (source, name, read_only, params, response): (&str, &str, bool, Value, Value) = match rng
        .random_range(0..12)
    {
        0..=2 => (
            "s3.amazonaws.com",
            "GetObject",
            true,
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": format!("reports/{}.csv", rng.random_range(0..10_000))}),
            Value::Null,
        ),
        3 => (
            "sts.amazonaws.com",
            "AssumeRole",
            false,
            json!({"roleArn": format!("arn:aws:iam::{account}:role/{}", pick(rng, ROLES)), "roleSessionName": pick(rng, USERS), "durationSeconds": 3600}),
            json!({"credentials": {"accessKeyId": key_id(rng, "ASIA"), "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Jan 5, 2026, 1:00:00 PM"}, "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:session", "arn": format!("arn:aws:sts::{account}:assumed-role/x/y")}}),
        ),
        4..=5 => (
            "ec2.amazonaws.com",
            "DescribeInstances",
            true,
            json!({"instancesSet": {}, "filterSet": {"items": [{"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}]}}),
            Value::Null,
        ),
        6 => (
            "kms.amazonaws.com",
            "Decrypt",
            true,
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{account}:function:api")}}),
            Value::Null,
        ),
        7 => (
            "signin.amazonaws.com",
            "ConsoleLogin",
            false,
            Value::Null,
            json!({"ConsoleLogin": if rng.random_bool(0.9) { "Success" } else { "Failure" }}),
        ),
        8 => (
            "iam.amazonaws.com",
            "CreateAccessKey",
            false,
            json!({"userName": pick(rng, USERS)}),
            json!({"accessKey": {"accessKeyId": key_id(rng, "AKIA"), "status": "Active", "userName": pick(rng, USERS), "createDate": "Jan 5, 2026 10:00:00 AM"}}),
        ),
        9 => (
            "s3.amazonaws.com",
            "PutBucketPolicy",
            false,
            json!({"bucketName": bucket, "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]}, "policy": ""}),
            Value::Null,
        ),
        10 => (
            "s3.amazonaws.com",
            "CreateBucket",
            false,
            json!({"bucketName": bucket, "Host": "s3.amazonaws.com", "CreateBucketConfiguration": {"LocationConstraint": region}}),
            Value::Null,
        ),
        _ => (
            "ec2.amazonaws.com",
            "RunInstances",
            false,
            json!({"instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.micro"}),
            Value::Null,
        ),
    };
    e["eventSource"] = json!(source);
    e["eventName"] = json!(name);
    e["readOnly"] = json!(read_only);
    e["requestParameters"] = params;
    e["responseElements"] = response;
    if name == "GetObject" {
        e["eventCategory"] = json!("Data");
        e["managementEvent"] = json!(false);
        e["resources"] = json!([
            {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/reports/")},
            {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}
        ]);
        e["additionalEventData"] = json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "bytesTransferredOut": rng.random_range(100..1_000_000), "x-amz-id-2": "EXAMPLE123="});
    }
    if name == "ConsoleLogin" {
        e["eventType"] = json!("AwsConsoleSignIn");
        e["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": if rng.random_bool(0.7) { "Yes" } else { "No" }});
    }
    if rng.random_bool(0.04) {
        e["errorCode"] = json!("AccessDenied");
        e["errorMessage"] = json!(format!(
            "User is not authorized to perform: {source}:{name}"
        ));
    }
    if e["userIdentity"]["type"] == "AWSService" {
        e["eventType"] = json!("AwsServiceEvent");
        e["sourceIPAddress"] = json!("lambda.amazonaws.com");
        e["userAgent"] = json!("lambda.amazonaws.com");
    }
    if e["eventVersion"] == "1.05" {
        // Older records: no eventCategory, tlsDetails or managementEvent yet.
        let obj = e.as_object_mut().expect("object");
        for k in ["eventCategory", "tlsDetails", "managementEvent"] {
            obj.remove(k);
        }
    }
    e
}

/// The order CloudTrail writes a record's members in (its documentation's, and the shared real
/// logs'), by the key of the object that holds them. serde_json's map sorts keys, and a reader
/// that relies on the usual order (the converter looks for the next column after the last one
/// found) would be measured on data no trail writes. Not taken from `ctparquet::schema`, which
/// follows the same documentation: this crate is a dependency of that crate's tests.
const MEMBER_ORDER: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "errorCode",
            "errorMessage",
            "requestParameters",
            "responseElements",
            "additionalEventData",
            "requestID",
            "eventID",
            "readOnly",
            "resources",
            "eventType",
            "apiVersion",
            "managementEvent",
            "recipientAccountId",
            "serviceEventDetails",
            "sharedEventID",
            "vpcEndpointId",
            "vpcEndpointAccountId",
            "eventCategory",
            "addendum",
            "sessionCredentialFromConsole",
            "edgeDeviceDetails",
            "tlsDetails",
        ],
    ),
    (
        "userIdentity",
        &[
            "type",
            "principalId",
            "arn",
            "accountId",
            "accessKeyId",
            "userName",
            "invokedBy",
            "sessionContext",
        ],
    ),
    (
        "sessionContext",
        &["sessionIssuer", "webIdFederationData", "attributes"],
    ),
    (
        "sessionIssuer",
        &["type", "principalId", "arn", "accountId", "userName"],
    ),
    ("attributes", &["creationDate", "mfaAuthenticated"]),
    (
        "tlsDetails",
        &["tlsVersion", "cipherSuite", "clientProvidedHostHeader"],
    ),
];

/// A record's JSON text with its members in [`MEMBER_ORDER`] (others after them, sorted).
fn record_text(record: &Value) -> String {
    let mut out = String::with_capacity(1536);
    write_ordered(record, "", &mut out);
    out
}

fn write_ordered(value: &Value, key: &str, out: &mut String) {
    let (Value::Object(map), Some((_, order))) =
        (value, MEMBER_ORDER.iter().find(|(k, _)| *k == key))
    else {
        out.push_str(&value.to_string());
        return;
    };
    let known = order.iter().filter_map(|k| map.get_key_value(*k));
    let rest = map.iter().filter(|(k, _)| !order.contains(&k.as_str()));
    out.push('{');
    for (i, (k, v)) in known.chain(rest).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(k.as_str()).to_string());
        out.push(':');
        write_ordered(v, k, out);
    }
    out.push('}');
}

/// The records of a delivery slot's file, serialised (compact, as in the file).
type SlotRecords = Vec<Box<str>>;

/// Write a delivery tree under `root` (which gets `AWSLogs/`).
pub fn generate(root: &Path, opts: &GenOptions) -> std::io::Result<GenStats> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut stats = GenStats::default();
    let start = Utc.from_utc_datetime(&opts.start.and_hms_opt(0, 0, 0).expect("midnight"));
    let interval = Duration::seconds(86_400 / i64::from(opts.files_per_day.max(1)));
    let end = start + Duration::days(i64::from(opts.days));
    for account in &opts.accounts {
        for region in &opts.regions {
            // Records waiting for their delivery slot's file. A record is delivered at or after
            // its own slot, so once a slot's events are made, the files up to it are complete
            // and are written out: memory holds the late records only, whatever the tree's size.
            let slot_secs = interval.num_seconds().max(1);
            let slot_of = |at: DateTime<Utc>| {
                (at - start - Duration::minutes(5))
                    .num_seconds()
                    .div_euclid(slot_secs)
            };
            let mut files: BTreeMap<i64, SlotRecords> = BTreeMap::new();
            // Events happen before delivery; the first file of the first date carries some of
            // the previous day too.
            let mut slot = start;
            while slot < end {
                let deliver = slot + Duration::minutes(5);
                for _ in 0..opts.events_per_file {
                    let happened = deliver
                        - Duration::seconds(rng.random_range(1..=interval.num_seconds() + 300));
                    let record = event(&mut rng, account, region, happened);
                    let roll: f64 = rng.random();
                    let deliver_at = if roll < opts.very_late_fraction {
                        deliver + Duration::days(rng.random_range(2..=4))
                    } else if roll < opts.very_late_fraction + opts.late_fraction {
                        deliver + Duration::minutes(rng.random_range(30..1_200))
                    } else {
                        deliver
                    };
                    let mut record = record;
                    if deliver_at - deliver > Duration::minutes(15) {
                        record["addendum"] = json!({"reason": "DELIVERY_DELAY"});
                    }
                    let text: Box<str> = record_text(&record).into();
                    if rng.random_bool(opts.duplicate_fraction.clamp(0.0, 1.0)) {
                        files
                            .entry(slot_of(deliver_at + interval))
                            .or_default()
                            .push(text.clone());
                        stats.duplicates += 1;
                    }
                    let day = happened.date_naive();
                    *stats
                        .events_by_day
                        .entry((account.clone(), region.clone(), day))
                        .or_default() += 1;
                    let lag = (deliver_at.date_naive() - day).num_days() as u32;
                    *stats
                        .events_by_lag
                        .entry((account.clone(), region.clone(), day, lag))
                        .or_default() += 1;
                    files.entry(slot_of(deliver_at)).or_default().push(text);
                }
                let done = slot_of(deliver);
                while let Some(entry) = files.first_entry().filter(|e| *e.key() <= done) {
                    let (file_slot, records) = entry.remove_entry();
                    write_file(
                        root, opts, &mut rng, &mut stats, account, region, start, slot_secs,
                        file_slot, records,
                    )?;
                }
                slot += interval;
            }
            // The late records delivered after the last slot.
            for (file_slot, records) in files {
                write_file(
                    root, opts, &mut rng, &mut stats, account, region, start, slot_secs, file_slot,
                    records,
                )?;
            }
        }
    }
    Ok(stats)
}

/// Write one delivery slot's file, stamped with the slot's delivery time: what is delivered in
/// the same slot goes together.
#[allow(clippy::too_many_arguments)]
fn write_file(
    root: &Path,
    opts: &GenOptions,
    rng: &mut StdRng,
    stats: &mut GenStats,
    account: &str,
    region: &str,
    start: DateTime<Utc>,
    slot_secs: i64,
    slot: i64,
    mut records: SlotRecords,
) -> std::io::Result<()> {
    let at = start + Duration::seconds(slot * slot_secs) + Duration::minutes(5);
    // CloudTrail writes records in no particular order.
    for i in (1..records.len()).rev() {
        records.swap(i, rng.random_range(0..=i));
    }
    let dir = folder(root, opts.org_id.as_deref(), account, region, at);
    std::fs::create_dir_all(&dir)?;
    let unique: String = (0..16)
        .map(|_| {
            let c = rng.random_range(0..62u8);
            (match c {
                0..=9 => b'0' + c,
                10..=35 => b'a' + c - 10,
                _ => b'A' + c - 36,
            }) as char
        })
        .collect();
    let name = format!(
        "{account}_CloudTrail_{region}_{}_{unique}.json.gz",
        at.format("%Y%m%dT%H%MZ")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(br#"{"Records":["#)?;
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            gz.write_all(b",")?;
        }
        gz.write_all(record.as_bytes())?;
    }
    gz.write_all(b"]}")?;
    let gz = gz.finish()?;
    stats.files += 1;
    stats.records += records.len() as u64;
    stats.bytes += gz.len() as u64;
    std::fs::write(dir.join(name), gz)
}

fn folder(
    root: &Path,
    org: Option<&str>,
    account: &str,
    region: &str,
    at: DateTime<Utc>,
) -> PathBuf {
    let mut dir = root.join("AWSLogs");
    if let Some(org) = org {
        dir = dir.join(org);
    }
    dir.join(account)
        .join("CloudTrail")
        .join(region)
        .join(at.format("%Y/%m/%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_are_reproducible_and_counted() {
        let a = tempfile_dir("a");
        let b = tempfile_dir("b");
        let opts = GenOptions {
            days: 1,
            files_per_day: 12,
            duplicate_fraction: 0.1,
            ..Default::default()
        };
        let sa = generate(&a, &opts).unwrap();
        let sb = generate(&b, &opts).unwrap();
        assert_eq!(sa.records, sb.records);
        assert_eq!(sa.events_by_day, sb.events_by_day);
        let unique: u64 = sa.events_by_day.values().sum();
        assert_eq!(unique + sa.duplicates, sa.records);
        assert!(sa.duplicates > 0);
        // The previous evening's last events arrive in the first files of the day.
        assert!(sa.events_by_day.keys().any(|(_, _, d)| *d < opts.start));
        std::fs::remove_dir_all(a).unwrap();
        std::fs::remove_dir_all(b).unwrap();
    }

    #[test]
    fn records_are_written_in_cloudtrails_member_order() {
        let mut rng = StdRng::seed_from_u64(7);
        let when = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
        for _ in 0..50 {
            let record = event(&mut rng, "111122223333", "us-east-1", when);
            let text = record_text(&record);
            // The same record, only reordered.
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), record);
            let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
            assert!(at("eventVersion") < at("userIdentity"));
            assert!(at("userIdentity") < at("eventTime"));
            assert!(at("eventTime") < at("eventSource"));
            assert!(at("eventID") < at("eventType"));
        }
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ctparquet-gen-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}

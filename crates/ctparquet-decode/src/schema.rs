//! The one table schema: CloudTrail records of eventVersion 1.11.
//!
//! Everything that needs to know the shape of a record — the Arrow schema written to Parquet, the
//! decoder that fills it, the rebuild of a record from a row and (later) the DDL for query engines —
//! walks [`EVENT_FIELDS`]. Adding a field here adds it everywhere.
//!
//! Older eventVersions (1.0 .. 1.10) are subsets of 1.11, so upgrading a record means filling the
//! columns it has and leaving the rest null. Anything a record carries that this schema cannot hold
//! exactly goes to the [`UNMAPPED`] column (see `decode`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The eventVersion this schema describes.
pub const SCHEMA_EVENT_VERSION: &str = "1.11";

/// The revision of the tables' schemas, recorded in every file written
/// (`ctparquet.schema_revision`); `upgrade` rewrites the days of older revisions. Bump it with
/// every change to a table's fields: a test compares the schemas with the reviewed description
/// of this revision (`schema-revision.txt` beside this file), so a change cannot go in without
/// its bump. The procedure is in docs/schema-changes.md.
pub const SCHEMA_REVISION: u32 = 1;

/// Name of the column that keeps whatever the typed columns cannot hold exactly, as a JSON object
/// that is deep-merged over the record rebuilt from the typed columns.
pub const UNMAPPED: &str = "unmapped";

/// The member of [`UNMAPPED`] that keeps the exact text of record members strict readers refuse:
/// an object of member name to that member's minified JSON text, as a JSON string.
///
/// JSON allows an escape of half a UTF-16 surrogate pair alone (`"\ud800"`); DuckDB, Athena and
/// most JSON libraries (serde_json among them) refuse to parse it, and one such value would make a
/// whole day unreadable to them. Such a member is written with each lone surrogate replaced by
/// U+FFFD (what readers show for it anyway) and its original text kept here, where it is an
/// ordinary string. A record that has a member of this very name keeps it here too, so the rule
/// "a member listed here rebuilds to the text listed" holds for every row.
pub const RAW_MEMBERS: &str = "ctparquet:raw";

/// Name of the event time column; rows are sorted by it, then by [`EVENT_ID`].
pub const EVENT_TIME: &str = "eventTime";
/// Name of the event id column; duplicates share it (and their eventTime).
pub const EVENT_ID: &str = "eventID";

/// How a field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 string.
    Str,
    /// Boolean.
    Bool,
    /// ISO-8601 UTC time, stored as TIMESTAMP(MILLIS, UTC).
    Timestamp,
    /// Any JSON value, stored as its compact JSON text with Parquet's JSON logical type.
    Json,
    /// A JSON object with known members.
    Struct(&'static [FieldSpec]),
    /// A JSON array of objects with known members.
    ListOfStruct(&'static [FieldSpec]),
}

/// One field of the record, as CloudTrail documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The JSON key, which is also the column name.
    pub name: &'static str,
    pub kind: Kind,
    /// The eventVersion that introduced it ("1.0" for the original fields).
    pub since: &'static str,
}

const fn f(name: &'static str, kind: Kind, since: &'static str) -> FieldSpec {
    FieldSpec { name, kind, since }
}

use Kind::*;

const SESSION_ISSUER: &[FieldSpec] = &[
    f("type", Str, "1.0"),
    f("principalId", Str, "1.0"),
    f("arn", Str, "1.0"),
    f("accountId", Str, "1.0"),
    f("userName", Str, "1.0"),
];

const WEB_ID_FEDERATION_DATA: &[FieldSpec] = &[
    f("federatedProvider", Str, "1.0"),
    f("attributes", Json, "1.0"),
];

const SESSION_ATTRIBUTES: &[FieldSpec] = &[
    // Seen both as `2021-02-21T23:46:28Z` and as basic ISO `20131102T010628Z`: kept as text.
    f("creationDate", Str, "1.0"),
    // The string "true"/"false", as CloudTrail writes it.
    f("mfaAuthenticated", Str, "1.0"),
];

const SESSION_CONTEXT: &[FieldSpec] = &[
    f("sessionIssuer", Struct(SESSION_ISSUER), "1.0"),
    f("webIdFederationData", Struct(WEB_ID_FEDERATION_DATA), "1.0"),
    f("attributes", Struct(SESSION_ATTRIBUTES), "1.0"),
    f("sourceIdentity", Str, "1.08"),
    f("ec2RoleDelivery", Str, "1.08"),
    f("assumedRoot", Str, "1.10"),
    f("signInSessionArn", Str, "1.11"),
];

const INVOKED_BY_DELEGATE: &[FieldSpec] = &[f("accountId", Str, "1.11")];

const ON_BEHALF_OF: &[FieldSpec] = &[f("userId", Str, "1.08"), f("identityStoreArn", Str, "1.08")];

const IN_SCOPE_OF: &[FieldSpec] = &[
    f("sourceArn", Str, "1.09"),
    f("sourceAccount", Str, "1.09"),
    f("issuerType", Str, "1.09"),
    f("credentialsIssuedTo", Str, "1.09"),
];

const USER_IDENTITY: &[FieldSpec] = &[
    f("type", Str, "1.0"),
    f("principalId", Str, "1.0"),
    f("arn", Str, "1.0"),
    f("accountId", Str, "1.0"),
    f("accessKeyId", Str, "1.0"),
    f("userName", Str, "1.0"),
    f("invokedBy", Str, "1.0"),
    f("identityProvider", Str, "1.0"),
    f("credentialId", Str, "1.08"),
    f("invokedByDelegate", Struct(INVOKED_BY_DELEGATE), "1.11"),
    f("onBehalfOf", Struct(ON_BEHALF_OF), "1.08"),
    f("inScopeOf", Struct(IN_SCOPE_OF), "1.09"),
    f("sessionContext", Struct(SESSION_CONTEXT), "1.0"),
];

const RESOURCE: &[FieldSpec] = &[
    f("ARN", Str, "1.01"),
    f("accountId", Str, "1.01"),
    f("type", Str, "1.01"),
];

const ADDENDUM: &[FieldSpec] = &[
    f("reason", Str, "1.08"),
    f("updatedFields", Str, "1.08"),
    f("originalRequestID", Str, "1.08"),
    f("originalEventID", Str, "1.08"),
];

const TLS_DETAILS: &[FieldSpec] = &[
    f("tlsVersion", Str, "1.08"),
    f("cipherSuite", Str, "1.08"),
    f("clientProvidedHostHeader", Str, "1.08"),
    f("keyExchange", Str, "1.11"),
];

/// The top-level fields of a CloudTrail record, in the order AWS documents them.
pub const EVENT_FIELDS: &[FieldSpec] = &[
    f("eventVersion", Str, "1.0"),
    f("userIdentity", Struct(USER_IDENTITY), "1.0"),
    f(EVENT_TIME, Timestamp, "1.0"),
    f("eventSource", Str, "1.0"),
    f("eventName", Str, "1.0"),
    f("awsRegion", Str, "1.0"),
    f("sourceIPAddress", Str, "1.0"),
    f("userAgent", Str, "1.0"),
    f("errorCode", Str, "1.0"),
    f("errorMessage", Str, "1.0"),
    f("requestParameters", Json, "1.0"),
    f("responseElements", Json, "1.0"),
    f("additionalEventData", Json, "1.0"),
    f("requestID", Str, "1.01"),
    f(EVENT_ID, Str, "1.01"),
    f("readOnly", Bool, "1.01"),
    f("resources", ListOfStruct(RESOURCE), "1.01"),
    f("eventType", Str, "1.02"),
    f("apiVersion", Str, "1.01"),
    f("managementEvent", Bool, "1.06"),
    f("recipientAccountId", Str, "1.02"),
    f("serviceEventDetails", Json, "1.05"),
    f("sharedEventID", Str, "1.03"),
    f("vpcEndpointId", Str, "1.04"),
    f("vpcEndpointAccountId", Str, "1.09"),
    f("eventCategory", Str, "1.07"),
    f("addendum", Struct(ADDENDUM), "1.08"),
    f("sessionCredentialFromConsole", Str, "1.08"),
    f("edgeDeviceDetails", Json, "1.08"),
    f("tlsDetails", Struct(TLS_DETAILS), "1.08"),
    f("insightDetails", Json, "1.07"),
    f("eventContext", Json, "1.11"),
];

const INSIGHT_DETAILS: &[FieldSpec] = &[
    f("state", Str, "1.07"),
    f("eventSource", Str, "1.07"),
    f("eventName", Str, "1.07"),
    f("insightType", Str, "1.07"),
    f("errorCode", Str, "1.07"),
    f("insightContext", Json, "1.07"),
];

/// CloudTrail Insights events (`CloudTrail-Insight/` folders).
pub const INSIGHT_FIELDS: &[FieldSpec] = &[
    f("eventVersion", Str, "1.07"),
    f(EVENT_TIME, Timestamp, "1.07"),
    f("awsRegion", Str, "1.07"),
    f(EVENT_ID, Str, "1.07"),
    f("eventType", Str, "1.07"),
    f("recipientAccountId", Str, "1.07"),
    f("sharedEventID", Str, "1.07"),
    f("insightDetails", Struct(INSIGHT_DETAILS), "1.07"),
    f("eventCategory", Str, "1.07"),
];

const TIME_WINDOW: &[FieldSpec] = &[
    // The start decides the record's day; the end is exclusive (often the next midnight).
    f("windowStart", Timestamp, "1.0"),
    f("windowEnd", Str, "1.0"),
    f("windowSize", Str, "1.0"),
];

/// CloudTrail aggregated events (`CloudTrail-Aggregated/` folders): 5-minute summaries of data
/// events.
pub const AGGREGATED_FIELDS: &[FieldSpec] = &[
    f("eventVersion", Str, "1.0"),
    f("accountId", Str, "1.0"),
    f("eventId", Str, "1.0"),
    f("eventCategory", Str, "1.0"),
    f("eventType", Str, "1.0"),
    f("awsRegion", Str, "1.0"),
    f("eventSource", Str, "1.0"),
    f("timeWindow", Struct(TIME_WINDOW), "1.0"),
    f("summary", Json, "1.0"),
];

/// One output table: its fields, where its records are delivered, what decides a record's day
/// and identity. Each table has exactly one [`Kind::Timestamp`] field, its day field.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub fields: &'static [FieldSpec],
    /// The revision of its fields, recorded in every file written: [`SCHEMA_REVISION`] for the
    /// tables of this release, another for a table [`revised`](Table::revised) to model the next.
    pub revision: u32,
    /// Folders under `AWSLogs/[o-ORG/]ACCOUNT/` that hold its records.
    pub folders: &'static [&'static str],
    /// The path of the day field: the UTC day of its instant is the record's day.
    pub time: &'static [&'static str],
    /// The top-level identity column: records with the same identity and time are duplicates.
    pub id: &'static str,
    /// Columns that get a bloom filter unless told otherwise.
    pub bloom_filter_columns: &'static [&'static str],
    /// Top-level columns whose values are (nearly) unique per row: written without a dictionary.
    pub unique_columns: &'static [&'static str],
    schema: OnceLock<SchemaRef>,
    in_flight: OnceLock<SchemaRef>,
}

/// The tie-breaking sequence column of rows in flight (delivery file order, then record order):
/// never written to Parquet.
pub const SEQ: &str = "__ctparquet_seq";

/// A rows' schema with [`SEQ`] last.
fn with_seq(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(SEQ, DataType::UInt64, false)));
    Arc::new(Schema::new(fields))
}

/// API, data and network activity events: the main table.
pub static EVENTS: Table = Table {
    name: "events",
    fields: EVENT_FIELDS,
    revision: SCHEMA_REVISION,
    folders: &["CloudTrail", "CloudTrail-NetworkActivity"],
    time: &[EVENT_TIME],
    id: EVENT_ID,
    bloom_filter_columns: &[
        "eventName",
        "eventSource",
        "eventID",
        "userIdentity.arn",
        "userIdentity.accessKeyId",
        "sourceIPAddress",
    ],
    unique_columns: &[EVENT_ID, "requestID"],
    schema: OnceLock::new(),
    in_flight: OnceLock::new(),
};

/// Insights events.
pub static INSIGHTS: Table = Table {
    name: "insights",
    fields: INSIGHT_FIELDS,
    revision: SCHEMA_REVISION,
    folders: &["CloudTrail-Insight"],
    time: &[EVENT_TIME],
    id: EVENT_ID,
    bloom_filter_columns: &["eventID", "insightDetails.eventName"],
    unique_columns: &[EVENT_ID],
    schema: OnceLock::new(),
    in_flight: OnceLock::new(),
};

/// Aggregated events.
pub static AGGREGATED: Table = Table {
    name: "aggregated",
    fields: AGGREGATED_FIELDS,
    revision: SCHEMA_REVISION,
    folders: &["CloudTrail-Aggregated"],
    time: &["timeWindow", "windowStart"],
    id: "eventId",
    bloom_filter_columns: &["eventId", "eventSource"],
    unique_columns: &["eventId"],
    schema: OnceLock::new(),
    in_flight: OnceLock::new(),
};

/// Every table, by name.
pub static TABLES: [&Table; 3] = [&EVENTS, &INSIGHTS, &AGGREGATED];

impl Table {
    /// The table of this name (`events`, `insights`, `aggregated`).
    pub fn named(name: &str) -> Option<&'static Table> {
        TABLES.iter().copied().find(|t| t.name == name)
    }

    /// This table with other fields, as a later revision: what a schema change makes of it.
    /// Tests model the next CloudTrail version with it (a field moving out of [`UNMAPPED`]);
    /// the release's own tables are edited in place (docs/schema-changes.md).
    pub fn revised(&self, fields: &'static [FieldSpec], revision: u32) -> Table {
        Table {
            fields,
            revision,
            schema: OnceLock::new(),
            in_flight: OnceLock::new(),
            ..*self
        }
    }

    /// The rows' schema: the fields, then [`UNMAPPED`], JSON-valued columns as text.
    pub fn schema(&self) -> SchemaRef {
        self.schema
            .get_or_init(|| build_schema(self.fields, JsonColumns::Text))
            .clone()
    }

    /// The schema of rows in flight (sorted, spilled, merged): the rows' schema, then [`SEQ`].
    pub fn in_flight_schema(&self) -> SchemaRef {
        self.in_flight
            .get_or_init(|| with_seq(&self.schema()))
            .clone()
    }

    /// The schema written to files: the rows' schema, the JSON-valued columns typed as `json`
    /// says (the same arrays either way).
    pub fn file_schema(&self, json: JsonColumns) -> SchemaRef {
        match json {
            JsonColumns::Text => self.schema(),
            JsonColumns::Json | JsonColumns::Variant => build_schema(self.fields, json),
        }
    }

    /// Dotted paths of every leaf column, in Parquet leaf order.
    pub fn leaf_paths(&self) -> Vec<String> {
        fn walk(prefix: &str, fields: &[FieldSpec], out: &mut Vec<String>) {
            for spec in fields {
                let path = if prefix.is_empty() {
                    spec.name.to_string()
                } else {
                    format!("{prefix}.{}", spec.name)
                };
                match spec.kind {
                    Struct(children) | ListOfStruct(children) => walk(&path, children, out),
                    _ => out.push(path),
                }
            }
        }
        let mut out = Vec::new();
        walk("", self.fields, &mut out);
        out.push(UNMAPPED.to_string());
        out
    }

    /// The day field as a dotted path.
    pub fn time_path(&self) -> String {
        self.time.join(".")
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// How the JSON-valued columns (`requestParameters`, `responseElements`, ..., `unmapped`) are
/// typed in the files. The values are the same compact JSON text either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JsonColumns {
    /// Plain UTF-8 strings: what every reader takes as text (Polars' `.str.json_path_match`,
    /// DuckDB's `->>`, pyarrow, Athena's `json_extract`).
    #[default]
    Text,
    /// Annotated with Parquet's JSON logical type (DuckDB types them JSON; Polars 2.1 reads an
    /// extension type its string functions refuse).
    Json,
    /// Parquet VARIANT, binary-encoded, the members a day's documents share shredded into typed
    /// columns (see the library's `variant` module). `unmapped` stays text.
    Variant,
}

impl JsonColumns {
    /// The name recorded in file metadata (`ctparquet.json_columns`) and given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            JsonColumns::Text => "text",
            JsonColumns::Json => "json",
            JsonColumns::Variant => "variant",
        }
    }

    /// The form of that name.
    pub fn named(name: &str) -> Option<JsonColumns> {
        match name {
            "text" => Some(JsonColumns::Text),
            "json" => Some(JsonColumns::Json),
            "variant" => Some(JsonColumns::Variant),
            _ => None,
        }
    }
}

/// Every column of every table with its Arrow type, one per line: what a schema revision is
/// (compared with `schema-revision.txt` by a test).
pub fn describe_revision() -> String {
    fn walk(out: &mut String, path: &str, field: &Field) {
        let path = if path.is_empty() {
            field.name().clone()
        } else {
            format!("{path}.{}", field.name())
        };
        match field.data_type() {
            DataType::Struct(children) => {
                out.push_str(&format!("{path}: struct\n"));
                for child in children {
                    walk(out, &path, child);
                }
            }
            DataType::List(item) => {
                out.push_str(&format!("{path}: list\n"));
                walk(out, &path, item);
            }
            other => out.push_str(&format!("{path}: {other}\n")),
        }
    }
    let mut out = format!("revision {SCHEMA_REVISION}\n");
    for table in TABLES {
        out.push_str(&format!("\ntable {}\n", table.name));
        for field in table.file_schema(JsonColumns::Text).fields() {
            walk(&mut out, "", field);
        }
    }
    out
}

fn build_schema(fields: &[FieldSpec], json: JsonColumns) -> SchemaRef {
    let mut out: Vec<Field> = fields.iter().map(|f| arrow_field(f, json)).collect();
    out.push(json_field(Field::new(UNMAPPED, DataType::Utf8, true), json));
    Arc::new(Schema::new(out))
}

/// The Arrow type of a field.
fn data_type(kind: Kind, json: JsonColumns) -> DataType {
    match kind {
        Str | Json => DataType::Utf8,
        Bool => DataType::Boolean,
        Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Struct(children) => DataType::Struct(struct_fields(children, json)),
        ListOfStruct(children) => DataType::List(Arc::new(Field::new(
            "element",
            DataType::Struct(struct_fields(children, json)),
            true,
        ))),
    }
}

/// The Arrow field of a spec (every field is nullable: any of them may be absent).
fn arrow_field(spec: &FieldSpec, json: JsonColumns) -> Field {
    if spec.kind == Json && json == JsonColumns::Variant {
        return variant_field(spec.name);
    }
    let field = Field::new(spec.name, data_type(spec.kind, json), true);
    if spec.kind == Json {
        json_field(field, json)
    } else {
        field
    }
}

/// The Arrow field of a JSON-valued column written as Parquet VARIANT, not shredded: the
/// canonical `arrow.parquet.variant` extension type over binary `metadata` and `value`, as
/// arrow-rs' variant builder makes them (the library's `variant` module builds the arrays and
/// tests that the two agree). Spelled out here so the decoder needs no Parquet.
fn variant_field(name: &str) -> Field {
    use arrow_schema::extension::{EXTENSION_TYPE_METADATA_KEY, EXTENSION_TYPE_NAME_KEY};
    let parts = Fields::from(vec![
        Field::new("metadata", DataType::Binary, false),
        Field::new("value", DataType::Binary, false),
    ]);
    Field::new(name, DataType::Struct(parts), true).with_metadata(HashMap::from([
        (
            EXTENSION_TYPE_NAME_KEY.to_string(),
            "arrow.parquet.variant".to_string(),
        ),
        (EXTENSION_TYPE_METADATA_KEY.to_string(), String::new()),
    ]))
}

fn json_field(field: Field, json: JsonColumns) -> Field {
    match json {
        // `unmapped` is text in the VARIANT form: it is read by `rebuild`, not queried.
        JsonColumns::Text | JsonColumns::Variant => field,
        // The canonical `arrow.json` extension type makes the parquet writer annotate the column
        // with the JSON logical type.
        JsonColumns::Json => field.with_extension_type(arrow_schema::extension::Json::default()),
    }
}

/// Arrow fields of the members of a struct spec.
fn struct_fields(children: &[FieldSpec], json: JsonColumns) -> Fields {
    children.iter().map(|c| arrow_field(c, json)).collect()
}

/// The schema of the events table.
pub fn event_schema() -> SchemaRef {
    EVENTS.schema()
}

/// Dotted paths of every leaf column of the events table.
pub fn leaf_paths() -> Vec<String> {
    EVENTS.leaf_paths()
}

#[cfg(test)]
mod tests {
    /// A change to a table's fields bumps [`SCHEMA_REVISION`] and updates the reviewed
    /// description (`CTPARQUET_BLESS=1 cargo test -p ctparquet --lib schema` writes it).
    #[test]
    fn the_schemas_are_those_of_their_revision() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema-revision.txt");
        let now = super::describe_revision();
        if std::env::var_os("CTPARQUET_BLESS").is_some() {
            std::fs::write(path, &now).unwrap();
        }
        let reviewed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            now == reviewed,
            "the tables' schemas differ from schema-revision.txt: bump SCHEMA_REVISION and \
             bless the new description (see docs/schema-changes.md)"
        );
    }

    use super::*;

    #[test]
    fn schema_has_every_documented_top_level_field_once() {
        let schema = event_schema();
        let mut names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate column names");
        for name in [
            "eventVersion",
            "eventTime",
            "userIdentity",
            "tlsDetails",
            "addendum",
            "resources",
            "eventContext",
            "vpcEndpointAccountId",
            UNMAPPED,
        ] {
            assert!(schema.index_of(name).is_ok(), "{name} missing");
        }
        assert_eq!(
            schema.field_with_name("eventTime").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert_eq!(
            schema.field_with_name("readOnly").unwrap().data_type(),
            &DataType::Boolean
        );
    }

    #[test]
    fn json_columns_are_text_unless_typed_json() {
        for (json, expected) in [
            (JsonColumns::Text, None),
            (JsonColumns::Json, Some("arrow.json")),
        ] {
            let schema = EVENTS.file_schema(json);
            for name in ["requestParameters", "responseElements", UNMAPPED] {
                let field = schema.field_with_name(name).unwrap();
                assert_eq!(field.data_type(), &DataType::Utf8, "{name}");
                assert_eq!(field.extension_type_name(), expected, "{name}");
            }
        }
        assert_eq!(EVENTS.file_schema(JsonColumns::Text), EVENTS.schema());
    }

    #[test]
    fn every_table_has_one_day_field_at_its_time_path() {
        fn timestamps(prefix: &str, fields: &[FieldSpec], out: &mut Vec<String>) {
            for f in fields {
                let path = if prefix.is_empty() {
                    f.name.to_string()
                } else {
                    format!("{prefix}.{}", f.name)
                };
                match f.kind {
                    Kind::Timestamp => out.push(path),
                    Kind::Struct(c) | Kind::ListOfStruct(c) => timestamps(&path, c, out),
                    _ => {}
                }
            }
        }
        for table in TABLES {
            let mut found = Vec::new();
            timestamps("", table.fields, &mut found);
            assert_eq!(found, [table.time_path()], "{}", table.name);
            assert!(table.schema().index_of(table.id).is_ok(), "{}", table.name);
            for col in table.bloom_filter_columns {
                assert!(
                    table.leaf_paths().iter().any(|p| p == col),
                    "{} {col}",
                    table.name
                );
            }
        }
    }

    #[test]
    fn leaf_paths_reach_into_nested_structs() {
        let paths = leaf_paths();
        assert!(paths.contains(&"userIdentity.arn".to_string()));
        assert!(paths.contains(&"userIdentity.sessionContext.sessionIssuer.arn".to_string()));
        assert!(paths.contains(&"resources.ARN".to_string()));
    }
}

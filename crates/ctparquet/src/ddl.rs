//! Table definitions for query engines, generated from the one schema: Athena (Glue) with
//! partition projection, a DuckDB view, a Polars scan.

use crate::schema::{FieldSpec, Kind, Table, UNMAPPED};

/// The partition columns, in folder order, with their Hive/Athena types.
pub const PARTITIONS: [(&str, &str); 5] = [
    ("account", "string"),
    ("region", "string"),
    ("year", "int"),
    ("month", "int"),
    ("day", "int"),
];

/// Every commercial AWS region and GovCloud (for the region enum of partition projection).
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The Hive type Athena and Glue use for a field.
pub fn hive_type(kind: Kind) -> String {
    match kind {
        Kind::Str | Kind::Json => "string".into(),
        Kind::Bool => "boolean".into(),
        Kind::Timestamp => "timestamp".into(),
        Kind::Struct(children) => format!("struct<{}>", struct_members(children)),
        Kind::ListOfStruct(children) => format!("array<struct<{}>>", struct_members(children)),
    }
}

fn struct_members(children: &[FieldSpec]) -> String {
    children
        .iter()
        .map(|c| format!("{}:{}", c.name, hive_type(c.kind)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The data columns (name, Hive type), in file order: what a Glue table lists as its columns.
pub fn hive_columns(table: &Table) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = table
        .fields
        .iter()
        .map(|f| (f.name.to_string(), hive_type(f.kind)))
        .collect();
    cols.push((UNMAPPED.to_string(), "string".into()));
    cols
}

/// How the `account` partition is projected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountProjection {
    /// Queries name the account(s) (`WHERE account = '...'`): any number of accounts, no list
    /// to maintain.
    Injected,
    /// A fixed list: queries may leave the account out.
    Enum(Vec<String>),
}

/// What an Athena table needs to know.
#[derive(Debug, Clone)]
pub struct AthenaTable {
    /// Which of ctparquet's tables.
    pub kind: &'static Table,
    pub database: String,
    pub table: String,
    /// `s3://bucket/prefix` of the converted output.
    pub location: String,
    pub accounts: AccountProjection,
    pub regions: Vec<String>,
    pub first_year: u32,
    pub last_year: u32,
}

impl AthenaTable {
    /// Partition projection properties (also what the Terraform Glue table sets).
    pub fn projection_properties(&self) -> Vec<(String, String)> {
        let location = self.location.trim_end_matches('/');
        let mut props = vec![("projection.enabled".to_string(), "true".to_string())];
        match &self.accounts {
            AccountProjection::Injected => {
                props.push(("projection.account.type".into(), "injected".into()))
            }
            AccountProjection::Enum(list) => {
                props.push(("projection.account.type".into(), "enum".into()));
                props.push(("projection.account.values".into(), list.join(",")));
            }
        }
        props.push(("projection.region.type".into(), "enum".into()));
        props.push(("projection.region.values".into(), self.regions.join(",")));
        for (name, range, digits) in [
            ("year", format!("{},{}", self.first_year, self.last_year), 4),
            ("month", "1,12".to_string(), 2),
            ("day", "1,31".to_string(), 2),
        ] {
            props.push((format!("projection.{name}.type"), "integer".into()));
            props.push((format!("projection.{name}.range"), range));
            props.push((format!("projection.{name}.digits"), digits.to_string()));
        }
        props.push((
            "storage.location.template".into(),
            format!("{location}/account=${{account}}/region=${{region}}/year=${{year}}/month=${{month}}/day=${{day}}"),
        ));
        props.push(("parquet.compression".into(), "ZSTD".into()));
        props
    }

    /// `CREATE EXTERNAL TABLE` for Athena.
    pub fn create_table(&self) -> String {
        let columns = hive_columns(self.kind)
            .iter()
            .map(|(name, ty)| format!("  `{name}` {ty}"))
            .collect::<Vec<_>>()
            .join(",\n");
        let partitions = PARTITIONS
            .iter()
            .map(|(name, ty)| format!("`{name}` {ty}"))
            .collect::<Vec<_>>()
            .join(", ");
        let props = self
            .projection_properties()
            .iter()
            .map(|(k, v)| format!("  '{k}' = '{v}'"))
            .collect::<Vec<_>>()
            .join(",\n");
        format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{db}`.`{table}` (\n{columns}\n)\n\
             COMMENT 'AWS CloudTrail {kind} written by ctparquet'\n\
             PARTITIONED BY ({partitions})\n\
             STORED AS PARQUET\n\
             LOCATION '{location}/'\n\
             TBLPROPERTIES (\n{props}\n);\n",
            kind = self.kind.name,
            db = self.database,
            table = self.table,
            location = self.location.trim_end_matches('/'),
        )
    }
}

/// The Glue table definition as JSON (columns, partition keys, table parameters), for
/// infrastructure code such as the Terraform module to read instead of copying columns by hand.
/// `location` may be a placeholder the caller substitutes (e.g. `${location}`).
pub fn glue_table_json(table: &AthenaTable) -> serde_json::Value {
    let columns: Vec<serde_json::Value> = hive_columns(table.kind)
        .into_iter()
        .map(|(name, ty)| serde_json::json!({"name": name, "type": ty}))
        .collect();
    let partition_keys: Vec<serde_json::Value> = PARTITIONS
        .iter()
        .map(|(name, ty)| serde_json::json!({"name": name, "type": ty}))
        .collect();
    let parameters: serde_json::Map<String, serde_json::Value> = table
        .projection_properties()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::json!({
        "name": table.table,
        "database": table.database,
        "location": format!("{}/", table.location.trim_end_matches('/')),
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "columns": columns,
        "partition_keys": partition_keys,
        "parameters": parameters,
    })
}

/// A DuckDB view over the output, with typed Hive partitions.
pub fn duckdb_view(dest: &str, view: &str) -> String {
    format!(
        "CREATE OR REPLACE VIEW {view} AS\n\
         SELECT * FROM read_parquet('{}/**/*.parquet',\n    \
         hive_partitioning = true,\n    \
         hive_types = {{'account': VARCHAR, 'region': VARCHAR, 'year': BIGINT, 'month': BIGINT, 'day': BIGINT}});\n",
        dest.trim_end_matches('/')
    )
}

/// A Polars lazy scan of the output, with typed Hive partitions.
pub fn polars_scan(dest: &str) -> String {
    format!(
        "import polars as pl\n\n\
         cloudtrail = pl.scan_parquet(\n    \
         \"{}/\",\n    \
         hive_partitioning=True,\n    \
         hive_schema={{\"account\": pl.String, \"region\": pl.String, \"year\": pl.Int16, \"month\": pl.Int8, \"day\": pl.Int8}},\n\
         )\n",
        dest.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AthenaTable {
        AthenaTable {
            kind: &crate::schema::EVENTS,
            database: "security".into(),
            table: "cloudtrail".into(),
            location: "s3://lake/ct/".into(),
            accounts: AccountProjection::Injected,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            first_year: 2013,
            last_year: 2099,
        }
    }

    #[test]
    fn athena_ddl_has_every_column_and_projection() {
        let ddl = table().create_table();
        for (name, ty) in hive_columns(&crate::schema::EVENTS) {
            assert!(ddl.contains(&format!("`{name}` {ty}")), "{name}");
        }
        assert!(ddl.contains("`eventTime` timestamp"));
        assert!(ddl.contains("`readOnly` boolean"));
        assert!(ddl.contains("`resources` array<struct<ARN:string,accountId:string,type:string>>"));
        assert!(ddl.contains("sessionIssuer:struct<type:string,principalId:string"));
        assert!(ddl.contains(
            "PARTITIONED BY (`account` string, `region` string, `year` int, `month` int, `day` int)"
        ));
        assert!(ddl.contains("'projection.account.type' = 'injected'"));
        assert!(ddl.contains("'projection.month.digits' = '2'"));
        assert!(ddl.contains(
            "'storage.location.template' = 's3://lake/ct/account=${account}/region=${region}/year=${year}/month=${month}/day=${day}'"
        ));
        assert_eq!(ddl.matches('<').count(), ddl.matches('>').count());
        assert_eq!(ddl.matches('(').count(), ddl.matches(')').count());
        // Partition columns are not data columns.
        for (p, _) in PARTITIONS {
            assert!(
                !hive_columns(&crate::schema::EVENTS)
                    .iter()
                    .any(|(c, _)| c == p)
            );
        }
    }

    #[test]
    fn every_known_region_is_a_region_name() {
        for region in AWS_REGIONS {
            assert!(crate::layout::is_region(region), "{region}");
        }
    }

    #[test]
    fn enum_accounts_are_listed() {
        let mut t = table();
        t.accounts = AccountProjection::Enum(vec!["012345678901".into(), "111122223333".into()]);
        assert!(
            t.create_table()
                .contains("'projection.account.values' = '012345678901,111122223333'")
        );
    }
}

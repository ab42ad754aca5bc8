# A Glue table over the output, with Athena partition projection: no partition ever needs adding.
# Its columns come from the code's one schema: generated/glue-table.json is the output of
# `ctparquet ddl glue` (scripts/gen-terraform.sh writes it; a test checks it is current).

locals {
  glue_schema  = jsondecode(file("${path.module}/generated/glue-table.json"))
  glue_regions = length(var.glue_regions) > 0 ? var.glue_regions : (length(var.regions) > 0 ? var.regions : split(",", local.glue_schema.parameters["projection.region.values"]))
  # The account enum: what the table lists, so that queries may leave the account out (every
  # query of queries/athena does). Injected is the explicit alternative for organizations too
  # large to list, where every query must name its accounts.
  glue_enum_accounts = length(var.glue_accounts) > 0 ? var.glue_accounts : var.accounts
  glue_accounts = var.glue_account_projection == "enum" ? {
    "projection.account.type"   = "enum"
    "projection.account.values" = join(",", local.glue_enum_accounts)
    } : {
    "projection.account.type" = "injected"
  }
}

resource "aws_glue_catalog_database" "cloudtrail" {
  count       = var.create_glue_table ? 1 : 0
  name        = var.glue_database_name
  description = "CloudTrail converted by ${var.name}"
}

resource "aws_glue_catalog_table" "cloudtrail" {
  count         = var.create_glue_table ? 1 : 0
  name          = var.glue_table_name
  database_name = aws_glue_catalog_database.cloudtrail[0].name
  table_type    = "EXTERNAL_TABLE"
  description   = "CloudTrail events (eventVersion 1.11 schema) written by ${var.name}; one folder per account, region and UTC day."

  parameters = merge(
    {
      "EXTERNAL"                  = "TRUE"
      "classification"            = "parquet"
      "parquet.compression"       = local.glue_schema.parameters["parquet.compression"]
      "projection.enabled"        = "true"
      "projection.region.type"    = "enum"
      "projection.region.values"  = join(",", local.glue_regions)
      "projection.year.type"      = "integer"
      "projection.year.range"     = "${var.glue_first_year},2099"
      "projection.year.digits"    = "4"
      "projection.month.type"     = "integer"
      "projection.month.range"    = "1,12"
      "projection.month.digits"   = "2"
      "projection.day.type"       = "integer"
      "projection.day.range"      = "1,31"
      "projection.day.digits"     = "2"
      "storage.location.template" = "${local.dest_url}/account=$${account}/region=$${region}/year=$${year}/month=$${month}/day=$${day}"
    },
    local.glue_accounts,
  )

  lifecycle {
    precondition {
      condition     = var.glue_account_projection == "injected" || length(local.glue_enum_accounts) > 0
      error_message = "The Glue table projects the account as an enum of glue_accounts (or accounts): list them (an organization's come from the aws_organizations_organization data source), or set glue_account_projection = \"injected\", with which every Athena query must name its accounts."
    }
  }

  dynamic "partition_keys" {
    for_each = local.glue_schema.partition_keys
    content {
      name = partition_keys.value.name
      type = partition_keys.value.type
    }
  }

  storage_descriptor {
    location      = "${local.dest_url}/"
    input_format  = local.glue_schema.input_format
    output_format = local.glue_schema.output_format

    ser_de_info {
      serialization_library = local.glue_schema.serde
    }

    dynamic "columns" {
      for_each = local.glue_schema.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

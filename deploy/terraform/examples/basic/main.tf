# The daily conversion of an organization trail's bucket into a data-lake bucket, with the
# streaming path for CloudTrail sent to CloudWatch Logs. The package is a release's
# ctparquet-lambda-arm64.zip, or built here with `scripts/build-lambda.sh arm64`. The Athena
# table lists the organization's accounts (run where the organization can be described).

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

data "aws_organizations_organization" "this" {}

module "ctparquet" {
  source = "../.."

  name          = "ctparquet"
  lambda_zip    = "${path.root}/../../../../target/lambda/ctparquet-lambda-arm64.zip"
  architecture  = "arm64"
  source_bucket = "org-cloudtrail-logs"
  source_prefix = ""
  dest_bucket   = "security-data-lake"
  dest_prefix   = "cloudtrail"
  alarm_actions = []
  glue_accounts = data.aws_organizations_organization.this.accounts[*].id

  firehose = {
    enabled         = true
    kind            = "cloudtrail"
    log_group_names = ["aws-cloudtrail-logs-org"]
  }
}

output "queue_url" {
  description = "Job queue: ctparquet backfill --from D --to D --enqueue <this>."
  value       = module.ctparquet.queue_url
}

output "glue_table" {
  description = "The Glue table to query with Athena."
  value       = module.ctparquet.glue_table
}

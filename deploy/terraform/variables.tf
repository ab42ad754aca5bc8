variable "name" {
  description = "Name of the function and prefix of every resource the module creates."
  type        = string
  default     = "ctparquet"

  validation {
    condition     = can(regex("^[A-Za-z0-9-_]{1,40}$", var.name))
    error_message = "name: 1 to 40 letters, digits, '-' or '_'."
  }
}

variable "lambda_zip" {
  description = "Path of a local deployment package: a release's ctparquet-lambda-<arch>.zip, or the zip `scripts/build-lambda.sh` builds. Give it or lambda_s3."
  type        = string
  default     = null
}

variable "lambda_s3" {
  description = "The deployment package in S3 instead of a local file, e.g. a release's ctparquet-lambda-arm64.zip copied to a bucket of the function's region: {bucket, key, object_version (optional)}."
  type = object({
    bucket         = string
    key            = string
    object_version = optional(string)
  })
  default = null
}

variable "architecture" {
  description = "Instruction set of the function: x86_64 or arm64 (the zip must be built for it)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (also its CPU share: 1769 MB is one full vCPU)."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory_size >= 512 && var.memory_size <= 10240
    error_message = "memory_size must be between 512 and 10240 MB."
  }
}

variable "timeout" {
  description = "Timeout of one invocation in seconds. Work that cannot finish in it is re-enqueued, not cut off."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout >= 120 && var.timeout <= 900
    error_message = "timeout must be between 120 and 900 seconds."
  }
}

variable "reserved_concurrency" {
  description = "Most invocations running at once (bounds the S3 request rate on the source and the cost of a large backfill)."
  type        = number
  default     = 20

  validation {
    condition     = var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be at least 1."
  }
}

variable "source_bucket" {
  description = "Bucket CloudTrail delivers to."
  type        = string
}

variable "source_prefix" {
  description = "Prefix in source_bucket that holds AWSLogs/ (empty when AWSLogs/ is at the root), without a trailing slash."
  type        = string
  default     = ""

  validation {
    condition     = !endswith(var.source_prefix, "/") && !startswith(var.source_prefix, "/")
    error_message = "source_prefix must not start or end with '/'."
  }
}

variable "dest_bucket" {
  description = "Bucket the Parquet is written to."
  type        = string
}

variable "dest_prefix" {
  description = "Prefix in dest_bucket the Hive-partitioned Parquet is written under (account=/region=/year=/month=/day=), without a trailing slash."
  type        = string
  default     = "cloudtrail"

  validation {
    condition     = length(var.dest_prefix) > 0 && !endswith(var.dest_prefix, "/") && !startswith(var.dest_prefix, "/")
    error_message = "dest_prefix must be non-empty and must not start or end with '/'."
  }
}

variable "source_kms_key_arns" {
  description = "KMS keys the CloudTrail logs are encrypted with (SSE-KMS): the function may decrypt with them."
  type        = list(string)
  default     = []
}

variable "dest_kms_key_arn" {
  description = "KMS key to encrypt the Parquet with (SSE-KMS); null for the bucket's default encryption."
  type        = string
  default     = null
}

variable "accounts" {
  description = "Only these accounts are converted (and projected as an enum in Athena); empty for every account found."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.accounts : can(regex("^[0-9]{12}$", a))])
    error_message = "accounts must be 12-digit AWS account ids."
  }
}

variable "regions" {
  description = "Only these regions are converted; empty for every region found."
  type        = list(string)
  default     = []
}

variable "schedule_expression" {
  description = "When the daily conversion runs (EventBridge schedule expression, UTC)."
  type        = string
  default     = "cron(30 1 * * ? *)"
}

variable "schedule_offset_days" {
  description = "A scheduled run converts the day this many days before its time (1: yesterday)."
  type        = number
  default     = 1
}

variable "schedule_days" {
  description = "Days a scheduled run converts, ending at the offset day (2 also redoes the day before, for events delivered after its first conversion)."
  type        = number
  default     = 2

  validation {
    condition     = var.schedule_days >= 1 && var.schedule_days <= 31
    error_message = "schedule_days must be between 1 and 31."
  }
}

variable "lateness_days" {
  description = "Date folders after a day read for its late events."
  type        = number
  default     = 1
}

variable "inline_max_units" {
  description = "Jobs of more units (consecutive days of an account and region) than this are fanned out over the queue, one message each."
  type        = number
  default     = 8
}

variable "unit_bytes" {
  description = "Compressed delivery bytes a planned unit reads at most (size such as 4GiB): what one invocation converts with margin; raise it with memory_size."
  type        = string
  default     = "4GiB"
}

variable "memory_budget" {
  description = "Rows held in memory before sorted runs spill to /tmp (size such as 512MiB); keep well under memory_size. Twice the CLI's 256MiB: the default function has 2048 MB to itself."
  type        = string
  default     = "512MiB"
}

variable "ephemeral_storage" {
  description = "Size of /tmp in MB (spill runs and staged part files)."
  type        = number
  default     = 4096
}

variable "compression" {
  description = "Parquet compression: zstd[:LEVEL], gzip[:LEVEL], snappy, lz4 or none."
  type        = string
  default     = "zstd:1"
}

variable "queue_batch_size" {
  description = "SQS messages given to one invocation."
  type        = number
  default     = 1
}

variable "max_receive_count" {
  description = "Receives of a job message before it moves to the dead-letter queue."
  type        = number
  default     = 3
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified by the alarms (e.g. an SNS topic); empty for alarms without actions."
  type        = list(string)
  default     = []
}

variable "create_glue_table" {
  description = "Create a Glue database and table (with Athena partition projection) over the output."
  type        = bool
  default     = true
}

variable "glue_database_name" {
  description = "Glue database of the table."
  type        = string
  default     = "cloudtrail"
}

variable "glue_table_name" {
  description = "Glue table over the output."
  type        = string
  default     = "cloudtrail"
}

variable "glue_first_year" {
  description = "First year of the year partition projection."
  type        = number
  default     = 2013
}

variable "glue_accounts" {
  description = "Accounts of the Athena account enum (defaults to var.accounts). Needed with glue_account_projection = \"enum\": new accounts are added here."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.glue_accounts : can(regex("^[0-9]{12}$", a))])
    error_message = "glue_accounts must be 12-digit AWS account ids."
  }
}

variable "glue_account_projection" {
  description = "How Athena projects the account partition: enum (of glue_accounts; every query of queries/athena runs as it is) or injected (nothing to list; every query must name its accounts with = or IN)."
  type        = string
  default     = "enum"

  validation {
    condition     = contains(["enum", "injected"], var.glue_account_projection)
    error_message = "glue_account_projection must be enum or injected."
  }
}

variable "glue_regions" {
  description = "Regions of the region partition projection (defaults to var.regions, else every commercial region)."
  type        = list(string)
  default     = []
}

variable "firehose" {
  description = "Optional streaming path: a Firehose stream fed by CloudWatch Logs subscriptions, transformed by the same function (a second one with its own role), written with dynamic partitioning under prefix/."
  type = object({
    enabled         = bool
    prefix          = optional(string, "cloudwatch-logs")
    error_prefix    = optional(string, "cloudwatch-logs-errors")
    log_group_names = optional(list(string), [])
    kind            = optional(string, "cloudtrail")
    log_keys        = optional(list(string), ["stream", "year", "month", "day", "hour"])
    buffer_mb       = optional(number, 64)
    buffer_seconds  = optional(number, 300)
  })
  default = { enabled = false }

  validation {
    condition     = contains(["cloudtrail", "logs"], var.firehose.kind)
    error_message = "firehose.kind must be cloudtrail (keys account, region, year, month, day) or logs (keys from log_keys)."
  }

  validation {
    condition     = alltrue([for k in var.firehose.log_keys : contains(["owner", "group", "stream", "year", "month", "day", "hour"], k)])
    error_message = "firehose.log_keys: each of owner, group, stream, year, month, day, hour."
  }
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

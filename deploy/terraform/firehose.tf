# The optional streaming path: CloudWatch Logs subscriptions -> Firehose -> the same binary as a
# transformation Lambda (its own function and role) returning partition keys -> S3 with dynamic
# partitioning. Records the function cannot read go under the error prefix.

locals {
  firehose_count       = var.firehose.enabled ? 1 : 0
  firehose_stream_name = "${var.name}-logs"
  firehose_stream_arn  = "arn:${data.aws_partition.current.partition}:firehose:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:deliverystream/${local.firehose_stream_name}"
  firehose_keys        = var.firehose.kind == "cloudtrail" ? ["account", "region", "year", "month", "day"] : var.firehose.log_keys
  firehose_prefix      = "${var.firehose.prefix}/${join("/", [for k in local.firehose_keys : "${k}=!{partitionKeyFromLambda:${k}}"])}/"
  firehose_environment = {
    CTPARQUET_FIREHOSE_MODE     = var.firehose.kind
    CTPARQUET_FIREHOSE_LOG_KEYS = join(",", var.firehose.log_keys)
  }
}

resource "aws_cloudwatch_log_group" "transformer" {
  #checkov:skip=CKV_AWS_158:Logs hold no secrets (record ids, counts, reasons); a CMK is the caller's choice at the account level.
  count             = local.firehose_count
  name              = "/aws/lambda/${var.name}-firehose"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_iam_role" "transformer" {
  count              = local.firehose_count
  name               = "${var.name}-firehose-transformer"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "transformer" {
  count = local.firehose_count

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.transformer[0].arn}:*"]
  }

  # Records split or over the 6 MB response limit are re-ingested into the same stream.
  statement {
    sid       = "Reingest"
    actions   = ["firehose:PutRecordBatch"]
    resources = [local.firehose_stream_arn]
  }
}

resource "aws_iam_role_policy" "transformer" {
  count  = local.firehose_count
  name   = "${var.name}-firehose-transformer"
  role   = aws_iam_role.transformer[0].id
  policy = data.aws_iam_policy_document.transformer[0].json
}

resource "aws_lambda_function" "transformer" {
  #checkov:skip=CKV_AWS_117:Talks only to Firehose over its public endpoint; a VPC adds NAT or endpoints and nothing for this workload.
  #checkov:skip=CKV_AWS_50:X-Ray needs xray:PutTraceSegments on "*", which the least-privilege policy refuses.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the caller owns; the zip is built from source by cargo lambda.
  #checkov:skip=CKV_AWS_173:The environment holds the mode and key names, no secrets.
  #checkov:skip=CKV_AWS_116:Firehose invokes it synchronously and keeps failed records itself (error prefix); a DLQ never receives anything.
  count                          = local.firehose_count
  function_name                  = "${var.name}-firehose"
  description                    = "ctparquet: Firehose transformation of CloudWatch Logs records with partition keys"
  role                           = aws_iam_role.transformer[0].arn
  filename                       = local.lambda_package.filename
  source_code_hash               = local.lambda_package.source_code_hash
  s3_bucket                      = local.lambda_package.s3_bucket
  s3_key                         = local.lambda_package.s3_key
  s3_object_version              = local.lambda_package.s3_object_version
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = 512
  timeout                        = 300
  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = local.firehose_environment
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.transformer[0].name
  }

  tags = var.tags
}

data "aws_iam_policy_document" "assume_firehose" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  count              = local.firehose_count
  name               = "${var.name}-firehose-delivery"
  assume_role_policy = data.aws_iam_policy_document.assume_firehose.json
  tags               = var.tags
}

data "aws_iam_policy_document" "firehose" {
  count = local.firehose_count

  statement {
    sid       = "Bucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dest_bucket}"]
  }

  statement {
    sid     = "Objects"
    actions = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = [
      "arn:${data.aws_partition.current.partition}:s3:::${var.dest_bucket}/${var.firehose.prefix}/*",
      "arn:${data.aws_partition.current.partition}:s3:::${var.dest_bucket}/${var.firehose.error_prefix}/*",
    ]
  }

  statement {
    sid       = "Transform"
    actions   = ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"]
    resources = [aws_lambda_function.transformer[0].arn, "${aws_lambda_function.transformer[0].arn}:*"]
  }

  dynamic "statement" {
    for_each = var.dest_kms_key_arn != null ? [1] : []
    content {
      sid       = "Encrypt"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.dest_kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "firehose" {
  count  = local.firehose_count
  name   = "${var.name}-firehose-delivery"
  role   = aws_iam_role.firehose[0].id
  policy = data.aws_iam_policy_document.firehose[0].json
}

resource "aws_kinesis_firehose_delivery_stream" "logs" {
  #checkov:skip=CKV_AWS_241:Encrypted at rest with an AWS-owned key; a customer key is optional (dest_kms_key_arn applies to the objects).
  count       = local.firehose_count
  name        = local.firehose_stream_name
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "AWS_OWNED_CMK"
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose[0].arn
    bucket_arn          = "arn:${data.aws_partition.current.partition}:s3:::${var.dest_bucket}"
    prefix              = local.firehose_prefix
    error_output_prefix = "${var.firehose.error_prefix}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    buffering_size      = var.firehose.buffer_mb
    buffering_interval  = var.firehose.buffer_seconds
    compression_format  = "GZIP"
    kms_key_arn         = var.dest_kms_key_arn

    dynamic_partitioning_configuration {
      enabled = true
    }

    processing_configuration {
      enabled = true

      processors {
        type = "Lambda"

        parameters {
          parameter_name  = "LambdaArn"
          parameter_value = "${aws_lambda_function.transformer[0].arn}:$LATEST"
        }
      }
    }
  }

  tags = var.tags
}

# CloudWatch Logs delivers the subscribed log groups into the stream.
data "aws_iam_policy_document" "assume_logs" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["logs.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "subscription" {
  count              = var.firehose.enabled && length(var.firehose.log_group_names) > 0 ? 1 : 0
  name               = "${var.name}-logs-subscription"
  assume_role_policy = data.aws_iam_policy_document.assume_logs.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "subscription" {
  count = length(aws_iam_role.subscription)
  name  = "${var.name}-logs-subscription"
  role  = aws_iam_role.subscription[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
      Resource = aws_kinesis_firehose_delivery_stream.logs[0].arn
    }]
  })
}

resource "aws_cloudwatch_log_subscription_filter" "logs" {
  for_each        = var.firehose.enabled ? toset(var.firehose.log_group_names) : toset([])
  name            = "${var.name}-to-firehose"
  log_group_name  = each.value
  filter_pattern  = ""
  destination_arn = aws_kinesis_firehose_delivery_stream.logs[0].arn
  role_arn        = aws_iam_role.subscription[0].arn
}

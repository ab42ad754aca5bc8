# ctparquet as an AWS Lambda: the daily schedule, the job queue (fan-out and backfill) with its
# dead-letter queue, the function and its log group, and alarms.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # The deployment package: a local zip (hashed, so a new build redeploys) or an S3 object
  # (its version, if given, redeploys).
  lambda_package = {
    filename          = var.lambda_zip
    source_code_hash  = var.lambda_zip == null ? null : filebase64sha256(var.lambda_zip)
    s3_bucket         = var.lambda_s3 == null ? null : var.lambda_s3.bucket
    s3_key            = var.lambda_s3 == null ? null : var.lambda_s3.key
    s3_object_version = var.lambda_s3 == null ? null : var.lambda_s3.object_version
  }

  # Key prefixes with their slash ("" at the bucket root).
  source_root = var.source_prefix == "" ? "" : "${var.source_prefix}/"
  dest_root   = "${var.dest_prefix}/"
  source_url  = "s3://${var.source_bucket}${var.source_prefix == "" ? "" : "/${var.source_prefix}"}"
  dest_url    = "s3://${var.dest_bucket}/${var.dest_prefix}"

  # The function's settings: every name is one `ctparquet-lambda --help` documents (the tests
  # check it). Optional ones are left out when unset so the code's defaults apply.
  environment = merge(
    {
      CTPARQUET_SOURCE               = local.source_url
      CTPARQUET_DEST                 = local.dest_url
      CTPARQUET_QUEUE_URL            = aws_sqs_queue.jobs.url
      CTPARQUET_SCHEDULE_OFFSET_DAYS = tostring(var.schedule_offset_days)
      CTPARQUET_SCHEDULE_DAYS        = tostring(var.schedule_days)
      CTPARQUET_LATENESS_DAYS        = tostring(var.lateness_days)
      CTPARQUET_INLINE_MAX_UNITS     = tostring(var.inline_max_units)
      CTPARQUET_UNIT_BYTES           = var.unit_bytes
      CTPARQUET_MEMORY_BUDGET        = var.memory_budget
      CTPARQUET_COMPRESSION          = var.compression
      CTPARQUET_WORK_DIR             = "/tmp/ctparquet"
      CTPARQUET_METRICS_NAMESPACE    = var.name
    },
    length(var.accounts) > 0 ? { CTPARQUET_ACCOUNTS = join(",", var.accounts) } : {},
    length(var.regions) > 0 ? { CTPARQUET_REGIONS = join(",", var.regions) } : {},
    var.dest_kms_key_arn != null ? { CTPARQUET_SSE_KMS_KEY_ID = var.dest_kms_key_arn } : {},
  )
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Logs hold no secrets (job ids, counts, file names); a CMK is the caller's choice at the account level.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "converter" {
  #checkov:skip=CKV_AWS_117:Talks only to S3 and SQS over their public endpoints; a VPC adds NAT or endpoints and nothing for this workload.
  #checkov:skip=CKV_AWS_50:X-Ray needs xray:PutTraceSegments on "*", which the least-privilege policy refuses; logs and EMF metrics cover operations.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the caller owns; the zip is a release asset or built from source.
  #checkov:skip=CKV_AWS_173:The environment holds bucket names, a queue URL and tuning, no secrets; Lambda encrypts it at rest with its own key.
  function_name                  = var.name
  description                    = "ctparquet: CloudTrail logs into day-collated Parquet (${local.source_url} -> ${local.dest_url})"
  role                           = aws_iam_role.converter.arn
  filename                       = local.lambda_package.filename
  source_code_hash               = local.lambda_package.source_code_hash
  s3_bucket                      = local.lambda_package.s3_bucket
  s3_key                         = local.lambda_package.s3_key
  s3_object_version              = local.lambda_package.s3_object_version
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency

  ephemeral_storage {
    size = var.ephemeral_storage
  }

  environment {
    variables = local.environment
  }

  # Failed asynchronous invocations (the schedule, after EventBridge's retries) land here too.
  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letters.arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function.name
  }

  lifecycle {
    precondition {
      condition     = (var.lambda_zip == null) != (var.lambda_s3 == null)
      error_message = "Give the deployment package as lambda_zip (a local file) or lambda_s3 (an S3 object), one of the two."
    }
  }

  tags = var.tags
}

# --- the job queue: fan-out of large jobs, backfill, work handed back at the deadline ---------

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "jobs" {
  name = "${var.name}-jobs"
  # AWS's advice for a Lambda event source: at least six times the function's timeout.
  visibility_timeout_seconds = var.timeout * 6
  message_retention_seconds  = 1209600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.jobs.arn]
  })
}

resource "aws_lambda_event_source_mapping" "jobs" {
  event_source_arn        = aws_sqs_queue.jobs.arn
  function_name           = aws_lambda_function.converter.arn
  batch_size              = var.queue_batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = max(2, var.reserved_concurrency)
  }
}

# --- the daily schedule ------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "daily" {
  name                = "${var.name}-daily"
  description         = "Convert the previous day(s) of CloudTrail with ${var.name}"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

# No input override: the function receives the EventBridge "Scheduled Event" itself and converts
# the days before its `time` (the tests check that the target stays this way).
resource "aws_cloudwatch_event_target" "daily" {
  rule = aws_cloudwatch_event_rule.daily.name
  arn  = aws_lambda_function.converter.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

resource "aws_lambda_permission" "daily" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.converter.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.daily.arn
}

# EventBridge may put undeliverable schedule events into the dead-letter queue.
resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeDeadLetters"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dead_letters.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.daily.arn } }
    }]
  })
}

# --- alarms ------------------------------------------------------------------------------------

locals {
  alarms = {
    errors = {
      description = "ctparquet invocations failed (a day not converted: see the function's logs)."
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.converter.function_name }
      statistic   = "Sum"
      period      = 3600
    }
    throttles = {
      description = "ctparquet invocations throttled (reserved concurrency reached)."
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      dimensions  = { FunctionName = aws_lambda_function.converter.function_name }
      statistic   = "Sum"
      period      = 3600
    }
    "dead-letters" = {
      description = "Job messages or schedule events gave up on: inspect and redrive ${aws_sqs_queue.dead_letters.name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.dead_letters.name }
      statistic   = "Maximum"
      period      = 300
    }
    "bad-files" = {
      description = "Delivery files ctparquet could not read (named in the function's logs)."
      namespace   = var.name
      metric      = "BadFiles"
      dimensions  = { Trigger = "sqs" }
      statistic   = "Sum"
      period      = 3600
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "converter" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}

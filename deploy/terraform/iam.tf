# Least privilege: list and read only under the source's AWSLogs/, write and delete only under the
# destination prefix, the module's own queues, its own log group; no "*" resource anywhere.

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "converter" {
  name               = "${var.name}-converter"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "converter" {
  statement {
    sid       = "ListSource"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.source_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.source_root}AWSLogs/", "${local.source_root}AWSLogs/*"]
    }
  }

  statement {
    sid       = "ReadSource"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.source_bucket}/${local.source_root}AWSLogs/*"]
  }

  statement {
    sid       = "ListDestination"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dest_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.dest_root, "${local.dest_root}*"]
    }
  }

  # GetObject: the footers of a day's parts (a day is never replaced by fewer rows), a day's lease
  # held by another run, the pending parts a several-file day is copied from, and the runs of a
  # conversion saved at a deadline (_ctparquet/resume/, resumed by the next invocation).
  statement {
    sid       = "WriteDestination"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dest_bucket}/${local.dest_root}*"]
  }

  statement {
    sid       = "JobQueue"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.jobs.arn]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.source_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSource"
      actions   = ["kms:Decrypt"]
      resources = var.source_kms_key_arns
    }
  }

  dynamic "statement" {
    for_each = var.dest_kms_key_arn != null ? [1] : []
    content {
      sid       = "EncryptDestination"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.dest_kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "converter" {
  name   = "${var.name}-converter"
  role   = aws_iam_role.converter.id
  policy = data.aws_iam_policy_document.converter.json
}

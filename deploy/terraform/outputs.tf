output "function_name" {
  description = "Name of the converter function (invoke it with a job: {\"date\": \"YYYY-MM-DD\"} or {\"from\": ..., \"to\": ...})."
  value       = aws_lambda_function.converter.function_name
}

output "function_arn" {
  description = "ARN of the converter function."
  value       = aws_lambda_function.converter.arn
}

output "role_arn" {
  description = "ARN of the converter's IAM role (grant it on bucket or key policies across accounts)."
  value       = aws_iam_role.converter.arn
}

output "queue_url" {
  description = "URL of the job queue: `ctparquet backfill --from D --to D --enqueue <queue_url>` rebuilds a range."
  value       = aws_sqs_queue.jobs.url
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (job messages and schedule events given up on)."
  value       = aws_sqs_queue.dead_letters.url
}

output "log_group_name" {
  description = "The function's log group (JSON lines and Embedded Metric Format metrics)."
  value       = aws_cloudwatch_log_group.function.name
}

output "glue_table" {
  description = "database.table of the Glue table over the output (null when not created)."
  value       = var.create_glue_table ? "${aws_glue_catalog_database.cloudtrail[0].name}.${aws_glue_catalog_table.cloudtrail[0].name}" : null
}

output "firehose_stream_name" {
  description = "The Firehose stream of the streaming path (null when not enabled)."
  value       = var.firehose.enabled ? aws_kinesis_firehose_delivery_stream.logs[0].name : null
}

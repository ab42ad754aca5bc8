-- Changes to who may access S3 buckets: policies, ACLs, public access blocks, ownership.
-- Parameters: $from, $to (YYYYMMDD, inclusive).
SELECT eventTime, account, eventName, requestParameters->>'bucketName' AS bucket,
       userIdentity.arn AS principal, errorCode
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN $from AND $to
  AND eventSource = 's3.amazonaws.com'
  AND eventName IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketPublicAccessBlock',
                    'DeleteBucketPublicAccessBlock', 'PutBucketOwnershipControls')
ORDER BY eventTime, eventID;

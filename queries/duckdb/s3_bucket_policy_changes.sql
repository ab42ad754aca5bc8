-- Changes to who may access S3 buckets: policies, ACLs, public access blocks, ownership.
-- Parameters: $from, $to (first and last day, inclusive).
SELECT eventTime, account, eventName, requestParameters->>'bucketName' AS bucket,
       userIdentity.arn AS principal, errorCode
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND eventSource = 's3.amazonaws.com'
  AND eventName IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketPublicAccessBlock',
                    'DeleteBucketPublicAccessBlock', 'PutBucketOwnershipControls')
ORDER BY eventTime, eventID;

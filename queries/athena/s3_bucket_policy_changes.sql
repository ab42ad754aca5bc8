-- Changes to who may access S3 buckets: policies, ACLs, public access blocks, ownership.
-- EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
SELECT eventTime, account, eventName, json_extract_scalar(requestParameters, '$.bucketName') AS bucket,
       userIdentity.arn AS principal, errorCode
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND eventSource = 's3.amazonaws.com'
  AND eventName IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketPublicAccessBlock',
                    'DeleteBucketPublicAccessBlock', 'PutBucketOwnershipControls')
ORDER BY eventTime, eventID;

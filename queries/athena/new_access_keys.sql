-- Access keys created.
-- EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
SELECT eventTime, account, userIdentity.arn AS created_by,
       coalesce(json_extract_scalar(responseElements, '$.accessKey.userName'),
                json_extract_scalar(requestParameters, '$.userName')) AS for_user,
       json_extract_scalar(responseElements, '$.accessKey.accessKeyId') AS access_key_id
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND eventName = 'CreateAccessKey'
  AND errorCode IS NULL
ORDER BY eventTime, eventID;

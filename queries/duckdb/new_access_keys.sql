-- Access keys created.
-- Parameters: $from, $to (YYYYMMDD, inclusive).
SELECT eventTime, account, userIdentity.arn AS created_by,
       coalesce(responseElements->'accessKey'->>'userName', requestParameters->>'userName') AS for_user,
       responseElements->'accessKey'->>'accessKeyId' AS access_key_id
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN $from AND $to
  AND eventName = 'CreateAccessKey'
  AND errorCode IS NULL
ORDER BY eventTime, eventID;

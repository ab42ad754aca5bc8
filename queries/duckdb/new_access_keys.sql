-- Access keys created.
-- Parameters: $from, $to (first and last day, inclusive).
SELECT eventTime, account, userIdentity.arn AS created_by,
       coalesce(responseElements->'accessKey'->>'userName', requestParameters->>'userName') AS for_user,
       responseElements->'accessKey'->>'accessKeyId' AS access_key_id
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND eventName = 'CreateAccessKey'
  AND errorCode IS NULL
ORDER BY eventTime, eventID;

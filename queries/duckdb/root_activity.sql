-- Activity of root users (not services acting on their behalf).
-- Parameters: $from, $to (first and last day, inclusive).
SELECT eventTime, account, eventSource, eventName, sourceIPAddress, errorCode
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND userIdentity.type = 'Root'
  AND userIdentity.invokedBy IS NULL
  AND coalesce(eventType, '') <> 'AwsServiceEvent'
ORDER BY eventTime, eventID;

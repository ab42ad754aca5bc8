-- Activity of root users (not services acting on their behalf).
-- Parameters: $from, $to (YYYYMMDD, inclusive).
SELECT eventTime, account, eventSource, eventName, sourceIPAddress, errorCode
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN $from AND $to
  AND userIdentity.type = 'Root'
  AND userIdentity.invokedBy IS NULL
  AND coalesce(eventType, '') <> 'AwsServiceEvent'
ORDER BY eventTime, eventID;

-- Activity of root users (not services acting on their behalf).
-- EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
SELECT eventTime, account, eventSource, eventName, sourceIPAddress, errorCode
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND userIdentity.type = 'Root'
  AND userIdentity.invokedBy IS NULL
  AND coalesce(eventType, '') <> 'AwsServiceEvent'
ORDER BY eventTime, eventID;

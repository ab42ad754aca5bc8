-- Console sign-ins without MFA.
-- Run as a prepared statement: EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
-- Runs on the default table (account projected as an enum); with --account-projection injected, add AND account = '...' (or IN (...)).
SELECT eventTime, account, userIdentity.type AS identity_type, userIdentity.arn AS principal,
       sourceIPAddress, json_extract_scalar(responseElements, '$.ConsoleLogin') AS result
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND eventName = 'ConsoleLogin'
  AND json_extract_scalar(additionalEventData, '$.MFAUsed') = 'No'
ORDER BY eventTime, eventID;

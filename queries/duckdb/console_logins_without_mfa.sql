-- Console sign-ins without MFA.
-- Parameters: $from, $to (days as integers YYYYMMDD, inclusive).
SELECT eventTime, account, userIdentity.type AS identity_type, userIdentity.arn AS principal,
       sourceIPAddress, responseElements->>'ConsoleLogin' AS result
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN $from AND $to
  AND eventName = 'ConsoleLogin'
  AND additionalEventData->>'MFAUsed' = 'No'
ORDER BY eventTime, eventID;

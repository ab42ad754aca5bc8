-- Console sign-ins without MFA.
-- Parameters: $from, $to (first and last day, inclusive).
SELECT eventTime, account, userIdentity.type AS identity_type, userIdentity.arn AS principal,
       sourceIPAddress, responseElements->>'ConsoleLogin' AS result
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND eventName = 'ConsoleLogin'
  AND additionalEventData->>'MFAUsed' = 'No'
ORDER BY eventTime, eventID;

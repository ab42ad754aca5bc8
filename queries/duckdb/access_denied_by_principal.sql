-- Calls refused for lack of permission, by principal.
-- Parameters: $from, $to (first and last day, inclusive).
SELECT coalesce(userIdentity.arn, userIdentity.principalId, userIdentity.invokedBy, '(unknown)') AS principal,
       count(*) AS denied, count(DISTINCT eventName) AS distinct_calls,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND (errorCode IN ('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation',
                     'Client.UnauthorizedOperation', 'UnauthorizedAccess')
       OR errorCode LIKE '%AccessDenied%')
GROUP BY ALL
ORDER BY denied DESC, principal;

-- Calls refused for lack of permission, by principal.
-- EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
SELECT coalesce(userIdentity.arn, userIdentity.principalId, userIdentity.invokedBy, '(unknown)') AS principal,
       count(*) AS denied, count(DISTINCT eventName) AS distinct_calls,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND (errorCode IN ('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation',
                     'Client.UnauthorizedOperation', 'UnauthorizedAccess')
       OR errorCode LIKE '%AccessDenied%')
GROUP BY 1
ORDER BY denied DESC, principal;

-- Roles used by IAM Identity Center (SSO) users: sessions of AWSReservedSSO_* roles, by user.
-- EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
SELECT split_part(userIdentity.principalId, ':', 2) AS sso_user,
       userIdentity.sessionContext.sessionIssuer.userName AS role,
       account, count(*) AS calls, min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND userIdentity.type = 'AssumedRole'
  AND userIdentity.sessionContext.sessionIssuer.userName LIKE 'AWSReservedSSO\_%' ESCAPE '\'
GROUP BY 1, 2, 3
ORDER BY calls DESC, sso_user, role;

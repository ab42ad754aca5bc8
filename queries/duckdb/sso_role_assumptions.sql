-- Roles used by IAM Identity Center (SSO) users: sessions of AWSReservedSSO_* roles, by user.
-- Parameters: $from, $to (YYYYMMDD, inclusive).
SELECT split_part(userIdentity.principalId, ':', 2) AS sso_user,
       userIdentity.sessionContext.sessionIssuer.userName AS role,
       account, count(*) AS calls, min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN $from AND $to
  AND userIdentity.type = 'AssumedRole'
  AND userIdentity.sessionContext.sessionIssuer.userName LIKE 'AWSReservedSSO\_%' ESCAPE '\'
GROUP BY ALL
ORDER BY calls DESC, sso_user, role;

-- Roles used by IAM Identity Center (SSO) users: sessions of AWSReservedSSO_* roles, by user.
-- Parameters: $from, $to (first and last day, inclusive).
SELECT split_part(userIdentity.principalId, ':', 2) AS sso_user,
       userIdentity.sessionContext.sessionIssuer.userName AS role,
       account, count(*) AS calls, min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND userIdentity.type = 'AssumedRole'
  AND userIdentity.sessionContext.sessionIssuer.userName LIKE 'AWSReservedSSO\_%' ESCAPE '\'
GROUP BY ALL
ORDER BY calls DESC, sso_user, role;

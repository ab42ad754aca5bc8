-- Successful changes to IAM (users, roles, groups, policies, keys).
-- EXECUTE q USING 20260101, 20260131 (days YYYYMMDD, inclusive).
SELECT eventTime, account, eventName, userIdentity.arn AS principal,
       json_extract_scalar(requestParameters, '$.userName') AS user_name,
       json_extract_scalar(requestParameters, '$.roleName') AS role_name,
       json_extract_scalar(requestParameters, '$.policyArn') AS policy_arn
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND eventSource = 'iam.amazonaws.com'
  AND errorCode IS NULL
  AND (readOnly = false
       OR (readOnly IS NULL AND NOT regexp_like(eventName, '^(Get|List|Generate|Simulate)')))
ORDER BY eventTime, eventID;

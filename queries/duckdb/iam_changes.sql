-- Successful changes to IAM (users, roles, groups, policies, keys).
-- Parameters: $from, $to (first and last day, inclusive).
SELECT eventTime, account, eventName, userIdentity.arn AS principal,
       requestParameters->>'userName' AS user_name, requestParameters->>'roleName' AS role_name,
       requestParameters->>'policyArn' AS policy_arn
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND eventSource = 'iam.amazonaws.com'
  AND errorCode IS NULL
  AND (readOnly = false
       OR (readOnly IS NULL AND NOT regexp_matches(eventName, '^(Get|List|Generate|Simulate)')))
ORDER BY eventTime, eventID;

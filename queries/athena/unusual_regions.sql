-- Activity in regions outside the ones normally used.
-- EXECUTE q USING 20260101, 20260131, ARRAY['us-east-1', 'eu-west-1'] (days YYYYMMDD, inclusive; usual regions).
SELECT awsRegion, count(*) AS events, count(DISTINCT userIdentity.arn) AS principals,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN ? AND ?
  AND NOT contains(?, awsRegion)
  AND awsRegion IS NOT NULL
GROUP BY 1
ORDER BY events DESC, awsRegion;

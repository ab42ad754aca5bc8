-- Activity in regions outside the ones normally used.
-- Parameters: $from, $to (YYYYMMDD, inclusive); $usual_regions (a list, e.g. ['us-east-1', 'eu-west-1']).
SELECT awsRegion, count(*) AS events, count(DISTINCT userIdentity.arn) AS principals,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE year * 10000 + month * 100 + day BETWEEN $from AND $to
  AND NOT list_contains($usual_regions, awsRegion)
  AND awsRegion IS NOT NULL
GROUP BY ALL
ORDER BY events DESC, awsRegion;

-- Activity in regions outside the ones normally used.
-- Parameters: $from, $to (first and last day, inclusive); $usual_regions (a list, e.g. ['us-east-1', 'eu-west-1']).
SELECT awsRegion, count(*) AS events, count(DISTINCT userIdentity.arn) AS principals,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM cloudtrail
WHERE (year, month, day) BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE))
                          AND (year($to::DATE), month($to::DATE), day($to::DATE))
  AND NOT list_contains($usual_regions, awsRegion)
  AND awsRegion IS NOT NULL
GROUP BY ALL
ORDER BY events DESC, awsRegion;

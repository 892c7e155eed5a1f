-- Account deletions per week (Monday, UTC), beside the week's registrations and the net
-- change in accounts. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS week,
       count(DISTINCT CASE WHEN event_type = 'user_registered' THEN analytics_id END) AS registrations,
       count(DISTINCT CASE WHEN event_type = 'user_deleted' THEN analytics_id END) AS deletions,
       count(DISTINCT CASE WHEN event_type = 'user_registered' THEN analytics_id END)
         - count(DISTINCT CASE WHEN event_type = 'user_deleted' THEN analytics_id END) AS net_accounts
FROM events
WHERE event_type IN ('user_registered', 'user_deleted')
GROUP BY CAST(date_trunc('week', CAST(event_date AS date)) AS date)
ORDER BY week

-- Premium feature use per week (Monday, UTC) and feature: uses, distinct users, and how
-- many completed. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS week, job_kind AS feature,
       count(*) AS uses, count(DISTINCT analytics_id) AS users,
       sum(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END) AS completed
FROM events
WHERE event_type = 'premium_feature_used'
GROUP BY CAST(date_trunc('week', CAST(event_date AS date)) AS date), job_kind
ORDER BY week, feature

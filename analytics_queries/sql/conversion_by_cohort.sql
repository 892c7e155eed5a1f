-- Free-to-premium conversion by signup month: of the users who registered in a month,
-- how many became premium within the window. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
cohorts AS (
  SELECT analytics_id, substr(min(event_date), 1, 7) AS cohort
  FROM events WHERE event_type = 'user_registered' GROUP BY analytics_id
),
converted AS (
  SELECT DISTINCT analytics_id FROM events
  WHERE event_type = 'subscription_changed' AND new_plan = 'premium' AND old_plan = 'free'
)
SELECT c.cohort, count(*) AS users, count(v.analytics_id) AS converted,
       round(100.0 * count(v.analytics_id) / count(*), 1) AS conversion_percent
FROM cohorts c LEFT JOIN converted v ON v.analytics_id = c.analytics_id
GROUP BY c.cohort
ORDER BY c.cohort

-- Weekly retention: users of each signup week still signing in N weeks later.
-- Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
cohorts AS (
  SELECT analytics_id, date_trunc('week', min(event_time)) AS cohort_week
  FROM events WHERE event_type = 'user_registered' GROUP BY analytics_id
),
activity AS (
  SELECT DISTINCT analytics_id, date_trunc('week', event_time) AS active_week
  FROM events WHERE event_type = 'signed_in'
)
SELECT c.cohort_week, date_diff('week', c.cohort_week, a.active_week) AS weeks_after_signup,
       count(DISTINCT a.analytics_id) AS retained_users
FROM cohorts c JOIN activity a ON a.analytics_id = c.analytics_id AND a.active_week >= c.cohort_week
GROUP BY c.cohort_week, date_diff('week', c.cohort_week, a.active_week)
ORDER BY c.cohort_week, weeks_after_signup

-- Weekly retention: users of each signup week (Monday, UTC) still active N weeks later
-- (registered, signed in, asked for an upload or had a job finish; cohort_retention adds
-- the cohort's size and share). Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
cohorts AS (
  SELECT analytics_id, CAST(date_trunc('week', CAST(min(event_date) AS date)) AS date) AS cohort_week
  FROM events WHERE event_type = 'user_registered' GROUP BY analytics_id
),
activity AS (
  SELECT DISTINCT analytics_id, CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS active_week
  FROM events WHERE event_type IN ('user_registered', 'signed_in', 'upload_ticket_issued', 'document_processed')
)
SELECT c.cohort_week, date_diff('week', c.cohort_week, a.active_week) AS weeks_after_signup,
       count(DISTINCT a.analytics_id) AS retained_users
FROM cohorts c JOIN activity a ON a.analytics_id = c.analytics_id AND a.active_week >= c.cohort_week
GROUP BY c.cohort_week, date_diff('week', c.cohort_week, a.active_week)
ORDER BY c.cohort_week, weeks_after_signup

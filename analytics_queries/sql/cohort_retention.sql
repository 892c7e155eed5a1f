-- Retention by signup week (Monday, UTC): the cohort's size and, N weeks after signup,
-- how many of it were active (registered, signed in, asked for an upload or had a job
-- finish) and what share of the cohort that is. Parameters: from_date, to_date.
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
sizes AS (SELECT cohort_week, count(*) AS cohort_size FROM cohorts GROUP BY cohort_week),
activity AS (
  SELECT DISTINCT analytics_id, CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS active_week
  FROM events WHERE event_type IN ('user_registered', 'signed_in', 'upload_ticket_issued', 'document_processed')
)
SELECT c.cohort_week, s.cohort_size, date_diff('week', c.cohort_week, a.active_week) AS weeks_after_signup,
       count(DISTINCT a.analytics_id) AS active_users,
       round(100.0 * count(DISTINCT a.analytics_id) / s.cohort_size, 1) AS retained_percent
FROM cohorts c
JOIN sizes s ON s.cohort_week = c.cohort_week
JOIN activity a ON a.analytics_id = c.analytics_id AND a.active_week >= c.cohort_week
GROUP BY c.cohort_week, s.cohort_size, date_diff('week', c.cohort_week, a.active_week)
ORDER BY c.cohort_week, weeks_after_signup

-- Time from registration to the first result, by signup week (Monday, UTC): users who
-- registered, how many got a first document (a lab report completed with at least one
-- value) within the range, and the median and 90th percentile hours until it (nearest
-- rank). Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
cohorts AS (
  SELECT analytics_id, min(event_time) AS registered_at,
         CAST(date_trunc('week', CAST(min(event_date) AS date)) AS date) AS cohort_week
  FROM events WHERE event_type = 'user_registered' GROUP BY analytics_id
),
firsts AS (
  SELECT c.cohort_week, date_diff('second', c.registered_at, min(e.event_time)) AS seconds
  FROM cohorts c JOIN events e ON e.analytics_id = c.analytics_id AND e.event_type = 'document_processed'
                               AND e.job_kind = 'lab_report' AND e.outcome = 'completed'
                               AND coalesce(e.observation_count, 1) > 0
  GROUP BY c.cohort_week, c.analytics_id, c.registered_at
),
ranked AS (
  SELECT cohort_week, seconds, row_number() OVER (PARTITION BY cohort_week ORDER BY seconds) AS position,
         count(*) OVER (PARTITION BY cohort_week) AS total
  FROM firsts
),
percentiles AS (
  SELECT cohort_week, max(total) AS with_result,
         min(CASE WHEN position >= ceil(0.5 * total) THEN seconds END) AS median_seconds,
         min(CASE WHEN position >= ceil(0.9 * total) THEN seconds END) AS p90_seconds
  FROM ranked GROUP BY cohort_week
)
SELECT c.cohort_week, count(*) AS registered, coalesce(max(p.with_result), 0) AS with_result,
       round(max(p.median_seconds) / 3600.0, 1) AS median_hours, round(max(p.p90_seconds) / 3600.0, 1) AS p90_hours
FROM cohorts c LEFT JOIN percentiles p ON p.cohort_week = c.cohort_week
GROUP BY c.cohort_week
ORDER BY c.cohort_week

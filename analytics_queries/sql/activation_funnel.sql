-- Activation by weekly signup cohort (Monday, UTC): users who registered, of them those
-- with a first document (a lab report completed with at least one value recognised), and
-- of those the ones who upgraded from free to premium at or after it (premium here means
-- that product-led upgrade). Parameters: from_date, to_date.
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
documents AS (
  SELECT analytics_id, min(event_time) AS first_document_at
  FROM events WHERE event_type = 'document_processed' AND job_kind = 'lab_report' AND outcome = 'completed'
    AND coalesce(observation_count, 1) > 0
  GROUP BY analytics_id
),
upgrades AS (
  SELECT analytics_id, max(event_time) AS last_upgrade_at
  FROM events WHERE event_type = 'subscription_changed' AND new_plan = 'premium' AND old_plan = 'free'
  GROUP BY analytics_id
)
SELECT c.cohort_week, count(*) AS registered, count(d.analytics_id) AS first_document, count(u.analytics_id) AS premium,
       round(100.0 * count(d.analytics_id) / count(*), 1) AS first_document_percent,
       round(100.0 * count(u.analytics_id) / count(*), 1) AS premium_percent
FROM cohorts c
LEFT JOIN documents d ON d.analytics_id = c.analytics_id
LEFT JOIN upgrades u ON u.analytics_id = d.analytics_id AND u.last_upgrade_at >= d.first_document_at
GROUP BY c.cohort_week
ORDER BY c.cohort_week

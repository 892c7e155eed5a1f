-- Failed jobs per month, kind and error code, with their share of that month's jobs of
-- the kind. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
jobs AS (
  SELECT substr(event_date, 1, 7) AS month, job_kind, count(*) AS jobs
  FROM events WHERE event_type = 'document_processed' GROUP BY substr(event_date, 1, 7), job_kind
)
SELECT j.month, j.job_kind, coalesce(e.error_code, 'unknown') AS error_code, count(*) AS failures,
       round(100.0 * count(*) / max(j.jobs), 1) AS percent_of_jobs
FROM events e JOIN jobs j ON j.month = substr(e.event_date, 1, 7) AND j.job_kind = e.job_kind
WHERE e.event_type = 'document_processed' AND e.outcome = 'failed'
GROUP BY j.month, j.job_kind, coalesce(e.error_code, 'unknown')
ORDER BY j.month, j.job_kind, failures DESC, error_code

-- End-to-end processing time per week (Monday, UTC) and job kind, from the input's
-- arrival (uploaded_at, schema 4 on) to the job's end: jobs, median and 95th percentile
-- seconds (nearest rank), beside the average model time. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
timed AS (
  SELECT CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS week, job_kind, latency_ms,
         date_diff('millisecond', uploaded_at, event_time) AS total_ms
  FROM events WHERE event_type = 'document_processed' AND uploaded_at IS NOT NULL
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY week, job_kind ORDER BY total_ms) AS position,
         count(*) OVER (PARTITION BY week, job_kind) AS total
  FROM timed
)
SELECT week, job_kind, count(*) AS jobs,
       round(min(CASE WHEN position >= ceil(0.5 * total) THEN total_ms END) / 1000.0, 1) AS median_seconds,
       round(min(CASE WHEN position >= ceil(0.95 * total) THEN total_ms END) / 1000.0, 1) AS p95_seconds,
       round(avg(latency_ms) / 1000.0, 1) AS avg_model_seconds
FROM ranked
GROUP BY week, job_kind
ORDER BY week, job_kind

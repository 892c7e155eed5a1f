-- Lab reports that completed with nothing recognised (observation_count 0, schema 3 on),
-- per week (Monday, UTC) and kind of file, of all completed lab reports: not a first
-- document. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS week,
       coalesce(input_type, 'unknown') AS input_type, count(*) AS completed,
       sum(CASE WHEN observation_count = 0 THEN 1 ELSE 0 END) AS without_values,
       round(100.0 * sum(CASE WHEN observation_count = 0 THEN 1 ELSE 0 END) / count(*), 1) AS without_values_percent
FROM events
WHERE event_type = 'document_processed' AND job_kind = 'lab_report' AND outcome = 'completed'
GROUP BY CAST(date_trunc('week', CAST(event_date AS date)) AS date), coalesce(input_type, 'unknown')
ORDER BY week, input_type

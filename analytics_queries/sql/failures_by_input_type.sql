-- Lab reports per month by the kind of file (pdf, photo or screenshot; image in events
-- written before photos and screenshots were told apart, unknown before schema 3):
-- jobs, completed, failed, the failure rate and the most frequent error code.
-- Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
reports AS (
  SELECT substr(event_date, 1, 7) AS month, coalesce(input_type, 'unknown') AS input_type, outcome, error_code
  FROM events WHERE event_type = 'document_processed' AND job_kind = 'lab_report'
),
codes AS (
  SELECT month, input_type, error_code,
         row_number() OVER (PARTITION BY month, input_type ORDER BY count(*) DESC, error_code) AS rank
  FROM reports WHERE outcome = 'failed' AND error_code IS NOT NULL
  GROUP BY month, input_type, error_code
)
SELECT r.month, r.input_type, count(*) AS jobs,
       sum(CASE WHEN r.outcome = 'completed' THEN 1 ELSE 0 END) AS completed,
       sum(CASE WHEN r.outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
       round(100.0 * sum(CASE WHEN r.outcome = 'failed' THEN 1 ELSE 0 END) / count(*), 1) AS failure_percent,
       max(c.error_code) AS top_error_code
FROM reports r LEFT JOIN codes c ON c.month = r.month AND c.input_type = r.input_type AND c.rank = 1
GROUP BY r.month, r.input_type
ORDER BY r.month, r.input_type

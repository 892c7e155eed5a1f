-- Jobs finished per day by kind (lab_report, chat, doctor_report): completed, failed and
-- the failure rate, and the lab reports that completed with no value recognised (schema 3
-- on; earlier events count as recognised). Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_date, job_kind, count(*) AS jobs,
       sum(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END) AS completed,
       sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
       round(100.0 * sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) / count(*), 1) AS failure_percent,
       sum(CASE WHEN outcome = 'completed' AND observation_count = 0 THEN 1 ELSE 0 END) AS nothing_recognised
FROM events
WHERE event_type = 'document_processed'
GROUP BY event_date, job_kind
ORDER BY event_date, job_kind

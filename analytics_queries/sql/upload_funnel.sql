-- The upload funnel per week (Monday, UTC): upload tickets issued, lab-report files that
-- arrived and were processed, those completed, and those with at least one value
-- recognised, each with its share of the tickets. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
steps AS (
  SELECT CAST(date_trunc('week', CAST(event_date AS date)) AS date) AS week,
         CASE WHEN event_type = 'upload_ticket_issued' THEN 1 ELSE 0 END AS ticket,
         CASE WHEN event_type = 'document_processed' THEN 1 ELSE 0 END AS uploaded,
         CASE WHEN event_type = 'document_processed' AND outcome = 'completed' THEN 1 ELSE 0 END AS completed,
         CASE WHEN event_type = 'document_processed' AND outcome = 'completed'
                   AND coalesce(observation_count, 1) > 0 THEN 1 ELSE 0 END AS with_values
  FROM events
  WHERE event_type IN ('upload_ticket_issued', 'document_processed') AND job_kind = 'lab_report'
)
SELECT week, sum(ticket) AS tickets, sum(uploaded) AS uploaded, sum(completed) AS completed,
       sum(with_values) AS with_values,
       round(100.0 * sum(uploaded) / nullif(sum(ticket), 0), 1) AS uploaded_percent,
       round(100.0 * sum(completed) / nullif(sum(ticket), 0), 1) AS completed_percent
FROM steps
GROUP BY week
ORDER BY week

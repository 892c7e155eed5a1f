-- Active users per day (the glossary's active user): registered, signed in, asked for an
-- upload or had a job finish. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_date, count(DISTINCT analytics_id) AS active_users
FROM events
WHERE event_type IN ('user_registered', 'signed_in', 'upload_ticket_issued', 'document_processed')
GROUP BY event_date
ORDER BY event_date

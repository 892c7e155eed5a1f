-- New accounts per day. Parameters: from_date, to_date (yyyy-MM-dd).
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_date, count(DISTINCT analytics_id) AS registrations
FROM events
WHERE event_type = 'user_registered'
GROUP BY event_date
ORDER BY event_date

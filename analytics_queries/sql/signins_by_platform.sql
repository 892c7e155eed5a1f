-- Sign-ins per day and device platform: new sessions on existing accounts (a registration
-- is not a sign-in; the executive dashboard counts the same). Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_date, coalesce(device_platform, 'unknown') AS device_platform, count(*) AS sign_ins
FROM events
WHERE event_type = 'signed_in'
GROUP BY event_date, coalesce(device_platform, 'unknown')
ORDER BY event_date, device_platform

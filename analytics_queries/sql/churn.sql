-- Premium users who went back to free, per month, by the status they ended in.
-- Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT substr(event_date, 1, 7) AS month, subscription_status, count(DISTINCT analytics_id) AS churned_users
FROM events
WHERE event_type = 'subscription_changed' AND old_plan = 'premium' AND new_plan = 'free'
GROUP BY substr(event_date, 1, 7), subscription_status
ORDER BY month, subscription_status

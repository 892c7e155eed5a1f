-- Premium subscribers at the end of each day with events: accounts whose latest plan
-- change (or registration) by then left them premium, active or in grace period, and not
-- deleted since. Only changes within the range are seen: start it before the earliest
-- subscription of interest. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
changes AS (
  SELECT analytics_id, event_date, event_time, stream_sequence, event_type,
         CASE WHEN event_type <> 'user_deleted' AND new_plan = 'premium'
                   AND subscription_status IN ('active', 'grace_period') THEN 1 ELSE 0 END AS premium
  FROM events WHERE event_type IN ('user_registered', 'subscription_changed', 'user_deleted')
),
days AS (SELECT DISTINCT event_date AS day FROM events),
latest AS (
  SELECT d.day, c.analytics_id, c.premium,
         row_number() OVER (PARTITION BY d.day, c.analytics_id
                            ORDER BY c.event_time DESC, length(c.stream_sequence) DESC, c.stream_sequence DESC,
                                     c.event_type DESC) AS recency
  FROM days d JOIN changes c ON c.event_date <= d.day
)
SELECT day, sum(premium) AS premium_subscribers
FROM latest
WHERE recency = 1
GROUP BY day
ORDER BY day

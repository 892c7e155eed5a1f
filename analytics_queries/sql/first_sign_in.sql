-- First sign-in after onboarding, by signup day: users who registered, how many signed in
-- again within the range, and the average hours until they first did.
-- Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
cohorts AS (
  SELECT analytics_id, min(event_time) AS registered_at, min(event_date) AS signup_date
  FROM events WHERE event_type = 'user_registered' GROUP BY analytics_id
),
returns AS (
  SELECT c.analytics_id, min(e.event_time) AS first_sign_in_at
  FROM cohorts c JOIN events e ON e.analytics_id = c.analytics_id AND e.event_type = 'signed_in'
                               AND e.event_time > c.registered_at
  GROUP BY c.analytics_id
)
SELECT c.signup_date, count(*) AS registered, count(r.analytics_id) AS signed_in_again,
       round(100.0 * count(r.analytics_id) / count(*), 1) AS signed_in_percent,
       round(avg(date_diff('second', c.registered_at, r.first_sign_in_at)) / 3600.0, 1) AS avg_hours_to_first_sign_in
FROM cohorts c LEFT JOIN returns r ON r.analytics_id = c.analytics_id
GROUP BY c.signup_date
ORDER BY c.signup_date

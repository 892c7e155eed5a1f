-- Chat questions per month (chat jobs finished, whatever their outcome), the users who
-- asked, the month's active users and questions per active user.
-- Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
active AS (
  SELECT substr(event_date, 1, 7) AS month, count(DISTINCT analytics_id) AS active_users
  FROM events WHERE event_type IN ('user_registered', 'signed_in', 'upload_ticket_issued', 'document_processed')
  GROUP BY substr(event_date, 1, 7)
),
chats AS (
  SELECT substr(event_date, 1, 7) AS month, count(*) AS questions, count(DISTINCT analytics_id) AS asking_users
  FROM events WHERE event_type = 'document_processed' AND job_kind = 'chat'
  GROUP BY substr(event_date, 1, 7)
)
SELECT a.month, coalesce(c.questions, 0) AS questions, coalesce(c.asking_users, 0) AS asking_users,
       a.active_users, round(1.0 * coalesce(c.questions, 0) / a.active_users, 2) AS questions_per_active_user
FROM active a LEFT JOIN chats c ON c.month = a.month
ORDER BY a.month

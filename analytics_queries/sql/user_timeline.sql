-- Everything that happened to one account, in order (milliseconds, then the stream's
-- order within one time). Parameters: from_date, to_date, user_id.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_time, event_type, auth_provider, device_platform, old_plan, new_plan, subscription_status,
       consent_type, consent_version, changed_fields, store, product_id, price_milli, currency, job_kind, outcome,
       error_code
FROM events
WHERE user_id = ?
ORDER BY event_time, length(stream_sequence), stream_sequence, event_type

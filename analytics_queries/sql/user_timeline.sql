-- Everything that happened to one person (their analytics id), in order (milliseconds, then the stream's
-- order within one time). Parameters: from_date, to_date, analytics_id.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_time, event_type, auth_provider, device_platform, old_plan, new_plan, subscription_status,
       consent_type, consent_version, consent_answer, changed_fields, store, product_id, price_milli, currency, job_kind, outcome,
       error_code
FROM events
WHERE analytics_id = ?
ORDER BY event_time, length(stream_sequence), stream_sequence, event_type

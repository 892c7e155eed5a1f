-- What the model costs us: input and output tokens per day and model, with the jobs that
-- called it and their average model time. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
)
SELECT event_date, model_id, count(*) AS jobs, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, round(avg(latency_ms)) AS avg_latency_ms
FROM events
WHERE event_type = 'document_processed' AND model_id IS NOT NULL
GROUP BY event_date, model_id
ORDER BY event_date, model_id

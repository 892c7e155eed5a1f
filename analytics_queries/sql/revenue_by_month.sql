-- Estimated revenue per month and currency from the stores' billing events, refunds
-- subtracted: the store's price where it sent one (Apple's transaction price), else the
-- product's list price from stack config (product_prices). An estimate: App Store Connect
-- and Play Console reports are the record. Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
billed AS (
  SELECT substr(e.event_date, 1, 7) AS month,
         CASE WHEN e.event_type = 'subscription_refunded' THEN -1 ELSE 1 END AS sign,
         coalesce(e.price_milli, p.price_milli) AS price_milli,
         CASE WHEN e.price_milli IS NOT NULL THEN e.currency ELSE p.currency END AS currency,
         CASE WHEN e.price_milli IS NULL AND p.price_milli IS NOT NULL THEN 1 ELSE 0 END AS at_list_price
  FROM events e LEFT JOIN product_prices p ON p.product_id = e.product_id
  WHERE e.event_type IN ('subscription_charged', 'subscription_refunded')
)
SELECT month, coalesce(currency, 'unpriced') AS currency,
       sum(CASE WHEN sign = 1 THEN 1 ELSE 0 END) AS charges,
       sum(CASE WHEN sign = -1 THEN 1 ELSE 0 END) AS refunds,
       sum(at_list_price) AS at_list_price,
       round(sum(sign * price_milli) / 1000.0, 2) AS revenue
FROM billed
GROUP BY month, coalesce(currency, 'unpriced')
ORDER BY month, currency

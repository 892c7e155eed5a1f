-- Recurring revenue per month and currency, gross and net of the store's commission
-- (serenya:storeCommission, with the list prices in product_prices): paying subscribers,
-- charges less refunds at the store's price or else the list price, in the month billed
-- (a yearly plan counts in the month it renews). Parameters: from_date, to_date.
WITH events AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy
    FROM audit_events WHERE event_date BETWEEN ? AND ?
  ) WHERE copy = 1
),
billed AS (
  SELECT substr(e.event_date, 1, 7) AS month, e.analytics_id, e.event_type,
         CASE WHEN e.event_type = 'subscription_refunded' THEN -1 ELSE 1 END AS sign,
         coalesce(e.price_milli, p.price_milli) AS price_milli,
         CASE WHEN e.price_milli IS NOT NULL THEN e.currency ELSE p.currency END AS currency
  FROM events e LEFT JOIN product_prices p ON p.product_id = e.product_id
  WHERE e.event_type IN ('subscription_charged', 'subscription_refunded')
),
terms AS (SELECT max(commission_percent) AS commission_percent FROM product_prices)
SELECT b.month, coalesce(b.currency, 'unpriced') AS currency,
       count(DISTINCT CASE WHEN b.sign = 1 THEN b.analytics_id END) AS paying_subscribers,
       round(sum(b.sign * b.price_milli) / 1000.0, 2) AS gross_revenue,
       max(t.commission_percent) AS commission_percent,
       round(sum(b.sign * b.price_milli) * (100 - max(t.commission_percent)) / 100000.0, 2) AS net_revenue
FROM billed b CROSS JOIN terms t
GROUP BY b.month, coalesce(b.currency, 'unpriced')
ORDER BY b.month, currency

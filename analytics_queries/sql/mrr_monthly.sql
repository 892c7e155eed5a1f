-- Monthly recurring revenue per month and currency, gross and net of the store's
-- commission (serenya:storeCommission, with the list prices and plan periods in
-- product_prices): each charge, less refunds, at the store's price or else the list
-- price, spread evenly over the months of its plan's period (a yearly plan's price / 12 in
-- each month of its year, from the month billed; a product without a list price counts as
-- monthly), and the subscribers paying in each month. Parameters: from_date, to_date.
WITH bounds AS (
  SELECT date_trunc('month', CAST(? AS date)) AS first_month, CAST(? AS date) AS last_day
),
events AS (
  SELECT * FROM (
    SELECT a.*, row_number() OVER (PARTITION BY a.event_id ORDER BY a.ingested_at) AS copy
    FROM audit_events a CROSS JOIN bounds b
    -- a yearly plan billed up to 11 months before the range still pays in it
    WHERE a.event_date BETWEEN date_format(date_add('month', -11, b.first_month), '%Y-%m-%d')
                           AND date_format(b.last_day, '%Y-%m-%d')
  ) WHERE copy = 1
),
billed AS (
  SELECT date_trunc('month', CAST(e.event_date AS date)) AS billed_month, e.analytics_id,
         CASE WHEN e.event_type = 'subscription_refunded' THEN -1 ELSE 1 END AS sign,
         coalesce(e.price_milli, p.price_milli) AS price_milli,
         CASE WHEN e.price_milli IS NOT NULL THEN e.currency ELSE p.currency END AS currency,
         coalesce(p.period_months, 1) AS period_months
  FROM events e LEFT JOIN product_prices p ON p.product_id = e.product_id
  WHERE e.event_type IN ('subscription_charged', 'subscription_refunded')
),
monthly AS (
  SELECT date_add('month', t.k, b.billed_month) AS month, b.analytics_id, b.sign, b.currency,
         CAST(b.price_milli AS double) / b.period_months AS price_milli
  FROM billed b CROSS JOIN UNNEST(sequence(0, b.period_months - 1)) AS t(k)
),
terms AS (SELECT max(commission_percent) AS commission_percent FROM product_prices)
SELECT date_format(m.month, '%Y-%m') AS month, coalesce(m.currency, 'unpriced') AS currency,
       count(DISTINCT CASE WHEN m.sign = 1 THEN m.analytics_id END) AS paying_subscribers,
       round(sum(m.sign * m.price_milli) / 1000.0, 2) AS gross_revenue,
       max(t.commission_percent) AS commission_percent,
       round(sum(m.sign * m.price_milli) * (100 - max(t.commission_percent)) / 100000.0, 2) AS net_revenue
FROM monthly m CROSS JOIN terms t CROSS JOIN bounds b
WHERE m.month BETWEEN b.first_month AND b.last_day
GROUP BY date_format(m.month, '%Y-%m'), coalesce(m.currency, 'unpriced')
ORDER BY month, currency

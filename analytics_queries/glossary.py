"""One definition per number: the terms the named queries and the executive dashboard
share. docs/audit-events.md prints them (docs.py) and tests check that every query
counting active users names exactly ACTIVE_EVENTS and that the dashboard's figures agree
with the queries on the same traffic."""

from __future__ import annotations

# What makes an account active on a day, week or month: it registered, signed in, asked
# for an upload ticket or had a job finish (lab report, chat answer, doctor report).
ACTIVE_EVENTS = ("user_registered", "signed_in", "upload_ticket_issued", "document_processed")
# How a query selects them, verbatim (a test checks each query that counts activity).
ACTIVE_FILTER = "event_type IN (" + ", ".join(f"'{e}'" for e in ACTIVE_EVENTS) + ")"
# The queries whose numbers count active users.
ACTIVE_QUERIES = (
    "daily_active_users",
    "monthly_active_users",
    "weekly_retention",
    "cohort_retention",
    "chat_per_active_user",
)
# The store's commission (serenya:storeCommission) when a stack sets none: Apple's Small
# Business Program and auto-renewing subscriptions after a year, and every Google Play
# subscription, pay 15%; Apple's standard rate (30%) applies above USD 1M a year.
DEFAULT_STORE_COMMISSION_PERCENT = 15

TERMS: tuple[tuple[str, str], ...] = (
    (
        "active user",
        "An account that, in the day, week or month, registered, signed in, asked for an upload ticket or had a "
        "job finish (a lab report, chat answer or doctor report, whatever its outcome): one of the event types "
        + ", ".join(f"`{e}`" for e in ACTIVE_EVENTS)
        + ". Used by "
        + ", ".join(f"`{q}`" for q in ACTIVE_QUERIES)
        + ". Distinct accounts are not a CloudWatch figure: the executive dashboard shows none and points here.",
    ),
    (
        "document processed",
        "A `document_processed` event: a job (lab report, chat answer or doctor report) finished, completed or "
        "failed. The executive dashboard's Documents processed (counted by the stream processor from these "
        "events) and `documents_processed_daily` count the same.",
    ),
    (
        "sign-in",
        "A `signed_in` event: a new session on an account that already existed (through sign-in, or an "
        "onboarding whose identity already had an account). Creating an account is a registration, not a "
        "sign-in. The executive dashboard's Sign-ins and `signins_by_platform` count the same.",
    ),
    (
        "registration",
        "A `user_registered` event: an account was created. The dashboard's New accounts and "
        "`daily_registrations` count the same.",
    ),
    (
        "first document",
        "A user's first lab report that completed with at least one value recognised (`observation_count` > 0; "
        "events from before schema 3 carry no count and are taken as recognised). A report that completed with "
        "nothing recognised is not a first document (`documents_without_values` counts those).",
    ),
    (
        "input type",
        "What kind of file a lab report was: `pdf`; `photo`, a JPEG (what phone cameras write) or any image whose "
        "EXIF names a camera (Make or Model); `screenshot`, a PNG without. The process function tells them apart "
        "once the file opens; an upload ticket, issued before, goes by the declared type. Events written before "
        "this distinction say `image` (`failures_by_input_type`, `documents_without_values` keep it apart).",
    ),
    (
        "premium conversion",
        "A `subscription_changed` from free to premium. `conversion_by_cohort` counts any such change of the "
        "signup cohort within the range; `activation_funnel` counts only one at or after the user's first "
        "document (a product-led conversion).",
    ),
    (
        "premium subscriber",
        "An account whose latest plan change (or registration) by the end of the day left it premium with status "
        "active or grace_period, and not deleted since (`active_subscribers_daily`).",
    ),
    (
        "churn",
        "A `subscription_changed` from premium to free (status expired or revoked), counted once per user and "
        "month (`churn`). A deletion is counted apart (`deletions_weekly`).",
    ),
    (
        "revenue, gross",
        "What customers paid through the stores: each `subscription_charged` at the store's price (or the "
        "product's list price from `serenya:listPrices` where the store sent none), minus each "
        "`subscription_refunded`; in the month billed (a yearly plan counts in the month it renews). Store "
        "prices include sales tax or VAT where the store collects it.",
    ),
    (
        "revenue, net",
        "Gross revenue less the store's commission (`serenya:storeCommission`, percent; "
        f"{DEFAULT_STORE_COMMISSION_PERCENT}% when unset: both stores' rate for subscriptions of a small "
        "business). Taxes are not deducted. `mrr_monthly` shows both.",
    ),
    (
        "monthly recurring revenue",
        "Revenue per month with each payment (less refunds) spread evenly over the months its plan covers, from "
        "the month billed: a yearly plan (`period: P1Y` in `serenya:listPrices`) adds its price / 12 to each "
        "month of its year; a product without a list price counts as monthly. `mrr_monthly`, gross and net; "
        "`revenue_by_month` shows cash as billed instead.",
    ),
    (
        "end-to-end processing time",
        "From the job's input arriving (`uploaded_at`: the file's upload, or the chat or report request) to its "
        "`document_processed` event; percentiles are exact (nearest rank), not approximate.",
    ),
)

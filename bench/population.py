"""Large populations for benchmarks, bulk-inserted through SQLAlchemy Core."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from memberflow.core.models import Member, Product, Subscription

ZONES = ["America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "UTC"]


def build(engine: Engine, *, total: int, due: int, renewal: datetime, spread_days: int = 30):
    """`total` monthly subscriptions: `due` of them renew at `renewal` (their 7-day reminder is
    due that day), the rest spread over `spread_days` days either side."""
    with engine.begin() as conn:
        conn.execute(insert(Product), [{"id": 1, "external_id": "club", "name": "Makers Club"}])
    chunk = 20_000
    for start in range(0, total, chunk):
        ids = range(start + 1, min(start + chunk, total) + 1)
        members = [
            {
                "id": n,
                "external_id": f"m{n}",
                "email": f"m{n}@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "locale": "fr" if n % 5 == 0 else "en",
                "time_zone": ZONES[n % len(ZONES)],
            }
            for n in ids
        ]
        subscriptions = [
            {
                "id": n,
                "external_id": f"s{n}",
                "member_id": n,
                "product_id": 1,
                "status": "active",
                "amount_minor": 1900,
                "currency": "EUR" if n % 5 == 0 else "USD",
                "interval": "month",
                "current_period_end": _renewal(n, total, due, renewal, spread_days),
            }
            for n in ids
        ]
        with engine.begin() as conn:
            conn.execute(insert(Member), members)
            conn.execute(insert(Subscription), subscriptions)


def _renewal(n: int, total: int, due: int, renewal: datetime, spread_days: int) -> datetime:
    if due and n % max(total // due, 1) == 0 and n // max(total // due, 1) <= due:
        return renewal
    # everything else: spread evenly, skipping the due day so the due count stays exact
    offset = (n * 7919) % (2 * spread_days * 24) - spread_days * 24
    moment = renewal + timedelta(hours=offset)
    return moment + timedelta(days=2) if abs(moment - renewal) < timedelta(days=2) else moment

"""The demo business: three products, a few hundred members in several zones and locales."""

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from memberflow.core.charges import TEST_CARDS

PRODUCTS = [
    # external id, name, interval, amount (minor), currency, value amplifier
    (
        "club-monthly",
        "Makers Club Monthly",
        "month",
        1900,
        "USD",
        "New this month: three workshops on hand-cut joinery and a members-only Q&A.",
    ),
    (
        "club-annual",
        "Makers Club Annual",
        "year",
        19000,
        "USD",
        "Annual members get the print magazine and 20% off every course.",
    ),
    ("club-europe", "Makers Club Europe", "month", 1500, "EUR", None),
]
# the value amplifiers in the members' other languages (docs/emails.md: the product's words)
TRANSLATED = {
    "club-monthly": {
        "fr": "Nouveau ce mois-ci : trois ateliers d'assemblage à la main et une séance de "
        "questions réservée aux membres.",
        "es": "Novedad este mes: tres talleres de ensamblaje a mano y una sesión de preguntas "
        "solo para miembros.",
        "de": "Neu diesen Monat: drei Workshops zu Handverbindungen und eine Fragestunde nur "
        "für Mitglieder.",
    },
    "club-annual": {
        "fr": "Les membres annuels reçoivent le magazine imprimé et 20 % de remise sur chaque "
        "cours.",
        "es": "Los miembros anuales reciben la revista impresa y un 20 % de descuento en cada "
        "curso.",
        "de": "Jahresmitglieder erhalten das gedruckte Magazin und 20 % Rabatt auf jeden Kurs.",
    },
}
EUROPEAN = ("fr", "es", "de")  # members paying in euros, by member number
ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
]
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Frances",
    "Dennis",
    "Radia",
    "Tim",
    "Hedy",
    "Niklaus",
    "Katherine",
    "Guido",
    "Élodie",
    "Anaïs",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Allen",
    "Ritchie",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Wirth",
    "Johnson",
    "Dupont",
]


def demo_rows(start: datetime, members: int = 300, seed: int = 7) -> list[dict]:
    """CSV rows (see the README's import columns) for a deterministic demo population."""
    rng = random.Random(seed)
    rows = []
    for n in range(1, members + 1):
        product_id, name, interval, amount, currency, amplifier = rng.choice(PRODUCTS)
        french = currency == "EUR" or rng.random() < 0.15
        zone = "Europe/Paris" if currency == "EUR" else rng.choice(ZONES)
        horizon = 40 if interval == "month" else 75
        period_end = start + timedelta(days=rng.randint(1, horizon), hours=rng.randint(0, 23))
        trialing = interval == "year" and rng.random() < 0.3
        status = "canceled" if rng.random() < 0.05 else ("trialing" if trialing else "active")
        card_month_offset = rng.choice([0, 1, 2, 6, 14, 26])
        expiry = start + timedelta(days=31 * card_month_offset)
        rows.append(
            {
                "member_external_id": f"mem_{n:04d}",
                "email": f"member{n:04d}@example.com",
                "first_name": rng.choice(FIRST),
                "last_name": rng.choice(LAST),
                "locale": EUROPEAN[n % 3] if currency == "EUR" else "fr" if french else "en",
                "time_zone": zone,
                "billing_address": f"{rng.randint(1, 99)} Demo Street"
                if rng.random() < 0.6
                else "",
                "shipping_address": f"{rng.randint(1, 99)} Parcel Lane"
                if rng.random() < 0.2
                else "",
                "product_external_id": product_id,
                "product_name": name,
                "product_value_amplifier": amplifier or "",
                **{
                    f"product_value_amplifier_{locale}": words
                    for locale, words in TRANSLATED.get(product_id, {}).items()
                },
                "subscription_external_id": f"sub_{n:04d}",
                "status": status,
                "amount_minor": amount,
                "currency": currency,
                "interval": interval,
                "current_period_end": period_end.isoformat(),
                "trial_end": period_end.isoformat() if status == "trialing" else "",
                "card_last4": _demo_card(rng),
                "card_expiry": f"{expiry.month:02d}/{expiry.year}",
                "marketing_consent": "true" if rng.random() < 0.7 else "false",
                "started_at": (start - timedelta(days=rng.randint(20, 900))).isoformat(),
            }
        )
    return rows


# About one renewal in eight fails, for the reasons small businesses see most.
FAILING_CARDS = ["9995"] * 5 + ["0002"] * 3 + ["0069"] * 4 + ["9979"] + ["0000"]


def _demo_card(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return rng.choice(FAILING_CARDS)
    while (last4 := f"{rng.randint(0, 9999):04d}") in TEST_CARDS:
        pass
    return last4


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        columns = list(dict.fromkeys(name for row in rows for name in row))
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def demo_start(today: datetime | None = None) -> datetime:
    """09:00 UTC today: the demo's first simulated run."""
    now = today or datetime.now(UTC)
    return now.replace(hour=9, minute=0, second=0, microsecond=0)

"""Member CSV files as `memberflow import` reads them."""

from pathlib import Path

HEADER = (
    "member_external_id,email,first_name,last_name,locale,time_zone,product_external_id,"
    "product_name,subscription_external_id,status,amount_minor,currency,interval,"
    "current_period_end,trial_end,card_last4,card_expiry\n"
)
GOOD = [
    "m1,ann@example.com,Ann,Lee,en,America/New_York,monthly,Monthly,s1,active,1999,usd,month,"
    "2026-12-08T15:00:00Z,,4242,02/2028\n",
    "m2,bea@example.com,Béa,Roy,fr,Europe/Paris,euro,Europe,s2,trialing,1500,EUR,month,"
    "2026-12-08T10:00:00+01:00,2026-12-08T10:00:00+01:00,,\n",
    "m1,ann@example.com,Ann,Lee,en,America/New_York,annual,Annual,s3,active,19000,USD,year,"
    "2027-06-01T00:00:00Z,,,\n",
]


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "members.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path

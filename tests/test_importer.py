"""`memberflow import`: good rows load, bad rows are reported by line, twice changes nothing."""

import json

from sqlalchemy import text
from sqlmodel import Session, select

from memberflow.core.models import Member, Product, Subscription
from memberflow.importer import import_csv
from tests.support.member_files import GOOD, HEADER, write


def counts(engine):
    with Session(engine) as session:
        return tuple(len(session.exec(select(m)).all()) for m in (Member, Product, Subscription))


def test_a_good_file_loads_members_products_and_subscriptions(engine, tmp_path):
    report = import_csv(engine, write(tmp_path, *GOOD))
    assert report.problems == []
    assert report.loaded == 3
    assert counts(engine) == (2, 3, 3)
    with Session(engine) as session:
        s1 = session.exec(select(Subscription).where(Subscription.external_id == "s1")).one()
        assert (s1.currency, s1.amount_minor, s1.card_valid_until.isoformat()) == (
            "USD",
            1999,
            "2028-02-29",
        )
        assert s1.current_period_end.tzinfo is not None


def test_importing_twice_changes_nothing(engine, tmp_path):
    path = write(tmp_path, *GOOD)
    import_csv(engine, path)
    report = import_csv(engine, path)
    assert report.problems == []
    assert counts(engine) == (2, 3, 3)


def test_bad_rows_are_reported_by_line_and_column_and_nothing_is_written(engine, tmp_path):
    path = write(
        tmp_path,
        GOOD[0],
        "m3,not-an-email,C,D,en,UTC,monthly,Monthly,s4,active,19.99,USD,month,"
        "2026-12-08T10:00:00Z,,,\n",
        "m4,d@example.com,D,E,en,Mars/Base,monthly,Monthly,s5,frozen,100,XXQ,week,"
        "2026-12-08 10:00,,12345,13/2026\n",
        GOOD[1],
    )
    report = import_csv(engine, path)
    assert report.loaded == 2 and not report.written
    text = "\n".join(report.problems)
    assert "line 3: email: is not an email address" in text
    assert "line 3: amount_minor: must be a whole number of minor units (cents)" in text
    for column in (
        "time_zone",
        "status",
        "currency",
        "interval",
        "current_period_end",
        "card_last4",
        "card_expiry",
    ):
        assert f"line 4: {column}:" in text, column
    assert "needs a UTC offset" in text
    assert counts(engine) == (0, 0, 0)  # the two good rows were not written either


def test_a_missing_column_is_named(engine, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("member_external_id,email\nm1,a@example.com\n")
    report = import_csv(engine, path)
    assert report.loaded == 0
    assert "missing column(s) product_external_id" in report.problems[0]


def test_consent_and_cancellations_are_imported_when_given_and_kept_when_not(engine, tmp_path):
    header = (
        "member_external_id,email,product_external_id,subscription_external_id,status,"
        "amount_minor,currency,interval,current_period_end,marketing_consent,canceled_at,"
        "cancel_reason\n"
    )
    agreed = "m1,a@x.org,monthly,s1,active,1999,USD,month,2026-12-08T15:00:00Z,true,,\n"
    left = (
        "m2,b@x.org,monthly,s2,canceled,1999,USD,month,2026-12-08T15:00:00Z,no,"
        "2026-11-20T10:00:00Z,cancellation_requested\n"
    )
    path = tmp_path / "consent.csv"
    path.write_text(header + agreed + left, encoding="utf-8")
    assert import_csv(engine, path).problems == []
    silent = tmp_path / "silent.csv"
    silent.write_text(
        header.replace(",marketing_consent", "") + agreed.replace(",true,", ","),
        encoding="utf-8",
    )
    assert import_csv(engine, silent).problems == []
    with Session(engine) as session:
        consent = {m.external_id: m.marketing_consent for m in session.exec(select(Member))}
        s2 = session.exec(select(Subscription).where(Subscription.external_id == "s2")).one()
    assert consent == {"m1": True, "m2": False}  # the second file said nothing: kept
    assert s2.canceled_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert s2.cancel_reason == "cancellation_requested"
    from memberflow.core import lifecycle

    import_csv(engine, path)  # the same file again: nothing new in the history
    with engine.connect() as conn:
        [fact] = lifecycle.history(conn, s2.id)
    assert (fact.kind, fact.occurred_at, fact.source) == (
        "canceled",
        s2.canceled_at,
        "import:2026-11-20T10:00:00+00:00",
    )


def test_an_empty_product_name_never_renames_the_product(engine, tmp_path):
    import_csv(engine, write(tmp_path, GOOD[0]))
    unnamed = GOOD[0].replace(",monthly,Monthly,", ",monthly,,").replace(",Ann,Lee,", ",,,")
    report = import_csv(engine, write(tmp_path, unnamed))
    assert report.problems == [] and report.changed == {}
    with Session(engine) as session:
        assert session.exec(select(Product)).one().name == "Monthly"
        member = session.exec(select(Member)).one()
        assert (member.first_name, member.last_name) == ("Ann", "Lee")


def test_an_amount_in_major_units_goes_in_the_amount_column(engine, tmp_path):
    header = (
        "member_external_id,email,product_external_id,subscription_external_id,status,"
        "amount,currency,interval,current_period_end\n"
    )
    path = tmp_path / "major.csv"
    path.write_text(header + "m1,a@x.org,monthly,s1,active,19.00,EUR,month,2026-12-08T15:00:00Z\n")
    assert import_csv(engine, path).problems == []
    with Session(engine) as session:
        assert session.exec(select(Subscription)).one().amount_minor == 1900
    path.write_text(header + "m1,a@x.org,monthly,s1,active,19.001,EUR,month,2026-12-08T15:00:00Z\n")
    assert "amount: '19.001' is not an amount in EUR" in import_csv(engine, path).problems[0]


def test_a_locale_without_templates_is_refused(engine, tmp_path):
    german = GOOD[0].replace(",en,America/New_York,", ",de,America/New_York,")
    report = import_csv(engine, write(tmp_path, german), locales=("en", "fr"))
    assert report.problems == [
        "line 2: locale: messages exist in en, fr, not 'de'; use one of them (a regional "
        "variant such as fr-CA is fine), or add templates in that language"
    ]
    assert counts(engine) == (0, 0, 0)


def test_a_regional_locale_is_kept_as_written_in_its_standard_form(engine, tmp_path):
    canadian = GOOD[1].replace(",fr,Europe/Paris,", ",fr_ca,America/Montreal,")
    assert import_csv(engine, write(tmp_path, canadian), locales=("en", "fr")).problems == []
    with Session(engine) as session:
        assert session.exec(select(Member)).one().locale == "fr-CA"


def test_a_products_words_in_other_languages_come_from_suffixed_columns(engine, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(
        "member_external_id,email,locale,product_external_id,product_name,product_locale,"
        "product_value_amplifier,product_name_de,product_value_amplifier_de,"
        "product_value_amplifier_fr_CA,subscription_external_id,status,amount_minor,currency,"
        "interval,current_period_end\n"
        "m1,a@example.com,de-AT,club,Club,en,New: live Q&A,Klub,Neu: Live-Fragestunde,"
        "Nouveau : séance de questions,s1,active,1999,EUR,month,2026-12-08T15:00:00Z\n",
        encoding="utf-8",
    )
    assert import_csv(engine, path, locales=("en", "fr", "de")).problems == []
    with Session(engine) as session:
        product = session.exec(select(Product)).one()
    assert product.default_locale == "en"
    assert json.loads(product.translations) == {
        "de": {"name": "Klub", "value_amplifier": "Neu: Live-Fragestunde"},
        "fr-CA": {"value_amplifier": "Nouveau : séance de questions"},
    }


def test_a_dry_run_says_what_would_change_and_writes_nothing(engine, tmp_path):
    import_csv(engine, write(tmp_path, GOOD[0]))
    typo = GOOD[1].replace(",euro,Europe,", ",eur0,Europe,")
    report = import_csv(
        engine, write(tmp_path, GOOD[0].replace("1999", "2499"), typo), dry_run=True
    )
    assert report.problems == [] and not report.written
    assert report.created == {"members": 1, "products": 1, "subscriptions": 1}
    assert report.changed == {"subscriptions": 1}
    assert report.new_products == ["eur0 (Europe)"]
    assert counts(engine) == (1, 1, 1)


def test_the_shipped_example_file_imports_cleanly(engine):
    from memberflow.core.settings import PROJECT_ROOT

    report = import_csv(engine, PROJECT_ROOT / "examples" / "members.csv", locales=("en", "fr"))
    assert report.problems == [] and report.written
    assert counts(engine) == (4, 3, 4)


def test_the_same_subscription_twice_is_refused_naming_both_lines(engine, tmp_path):
    again = GOOD[0].replace(",1999,", ",2999,")
    report = import_csv(engine, write(tmp_path, GOOD[0], GOOD[1], again))
    assert report.problems == [
        "lines 2 and 4: subscription s1 is on both; a subscription is one line: keep the right one"
    ]
    assert not report.written


def test_one_member_with_two_emails_is_refused_naming_both_lines(engine, tmp_path):
    other = GOOD[2].replace("ann@example.com", "ann.lee@example.com")
    report = import_csv(engine, write(tmp_path, GOOD[0], other))
    assert report.problems == [
        "lines 2 and 3: member m1 has email 'ann@example.com' on one and 'ann.lee@example.com' "
        "on the other; make them agree (or leave the cell empty on all lines but one)"
    ]
    # the same member on two lines with the same details is a member with two subscriptions
    assert import_csv(engine, write(tmp_path, GOOD[0], GOOD[2])).problems == []


def test_a_spreadsheets_windows_1252_export_is_read_and_said(engine, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + GOOD[1]).encode("cp1252"))
    report = import_csv(engine, path)
    assert report.problems == [] and report.encoding == "windows-1252"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT first_name FROM member")).scalar() == "Béa"


def test_utf8_with_a_bom_and_utf16_are_read(engine, tmp_path):
    path = tmp_path / "export.csv"
    for encoding in ("utf-8-sig", "utf-16"):
        path.write_bytes((HEADER + GOOD[1]).encode(encoding))
        assert import_csv(engine, path, dry_run=True).problems == []


def test_a_file_in_no_known_encoding_names_the_line_and_the_fix(engine, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(HEADER.encode() + b"m1,\x81\x8d@example.com\n")
    [problem] = import_csv(engine, path).problems
    assert "line 2 is neither UTF-8 nor Windows-1252 (byte 0x81)" in problem
    assert 'save it as "CSV UTF-8"' in problem and "iconv" in problem
    workbook = tmp_path / "members.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert (
        "is a spreadsheet workbook (.xlsx), not a CSV" in import_csv(engine, workbook).problems[0]
    )

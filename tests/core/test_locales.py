"""The fallback chain and the product's words in the message's language (plain Python)."""

from memberflow.core.locales import choose, fallback_chain, normalized, product_words

AVAILABLE = ("de", "en", "es", "fr")


def test_tags_are_read_in_any_common_spelling():
    assert [normalized(tag) for tag in ("fr_ca", "FR-ca", " de ", "", None)] == [
        "fr-CA",
        "fr-CA",
        "de",
        None,
        None,
    ]


def test_the_chain_is_member_then_language_then_product_then_business():
    assert fallback_chain("fr-CA", "de", "en") == ["fr-CA", "fr", "de", "en"]
    assert fallback_chain(None, None, "en") == ["en"]
    assert fallback_chain("en-GB", "en", "en") == ["en-GB", "en"]


def test_a_regional_variant_reads_its_language_without_a_fallback():
    choice = choose(AVAILABLE, "fr-CA", None, "en")
    assert (choice.locale, choice.fell_back) == ("fr", False)


def test_an_unknown_language_takes_the_products_then_the_business_default():
    assert choose(AVAILABLE, "it", "de", "en").locale == "de"
    assert choose(AVAILABLE, "it", "pt", "en").locale == "en"
    assert choose(AVAILABLE, "it", None, "fr").fell_back


def test_a_member_without_a_locale_reads_the_default_with_nothing_to_warn_about():
    choice = choose(AVAILABLE, None, None, "en")
    assert (choice.locale, choice.fell_back) == ("en", False)


def test_a_template_in_no_language_of_the_chain_is_asked_in_the_business_default():
    assert choose(("fr",), "de", None, "en").locale == "en"  # rendering then names the file


def test_the_products_words_follow_the_messages_language():
    words = {"de": {"name": "Klub", "value_amplifier": "Neu"}, "fr-CA": {"value_amplifier": "Nou"}}
    base = {"name": "Club", "value_amplifier": "New", "written_in": "en", "translations": words}
    assert product_words("de", **base) == ("Klub", "Neu")
    assert product_words("en", **base) == ("Club", "New")
    assert product_words("fr-CA", **base) == ("Club", "Nou")  # the name stays, untranslated
    assert product_words("fr", asked="fr-CA", **base) == ("Club", "Nou")
    assert product_words("es", **base) == ("Club", None)  # never English text in Spanish
    assert product_words("fr", **{**base, "written_in": "fr", "translations": None}) == (
        "Club",
        "New",
    )

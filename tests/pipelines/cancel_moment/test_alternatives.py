"""The one alternative: pure rules, no database."""

import pytest

from memberflow.pipelines.cancel_moment.alternatives import alternative_for, load_alternatives

CONFIG = """{
  "gold": {"unused": {"kind": "pause", "months": 2},
           "too_expensive": {"kind": "discount", "code": "promo_1Q", "description": "30% off"},
           "off_countries": ["de"]},
  "silver": {"off": true},
  "*": {"technical_issues": {"kind": "human"}}
}"""


def test_one_alternative_only_for_a_reason_it_answers():
    config = load_alternatives(CONFIG)
    assert alternative_for(config, "gold", "unused", None).kind == "pause"
    assert alternative_for(config, "gold", "too_expensive", "US").kind == "discount"
    assert alternative_for(config, "gold", None, None) is None  # no reason: straight out
    assert alternative_for(config, "gold", "other", None) is None  # none configured
    assert alternative_for(config, "gold", "unused", "DE") is None  # off where they live
    assert alternative_for(config, "silver", "unused", None) is None  # off for the product
    assert alternative_for(config, "bronze", "technical_issues", None).kind == "human"  # `*`
    assert alternative_for({}, "gold", "unused", None) is None  # nothing configured


@pytest.mark.parametrize(
    "text,says",
    [
        (
            '{"gold": {"unused": {"kind": "discount", "code": "X", "description": "d"}}}',
            "a discount does not answer 'unused'",
        ),
        ('{"gold": {"bored": {"kind": "pause"}}}', "'bored' is not an exit reason"),
        ('{"gold": {"unused": {"kind": "pause", "months": 6}}}', "months"),
        ('{"gold": {"too_expensive": {"kind": "switch"}}}', "a switch needs `price`"),
        ("{gold", "is not JSON"),
    ],
)
def test_a_wrong_configuration_says_where(text, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        load_alternatives(text)

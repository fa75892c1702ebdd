"""The breaker's verdicts, without an output: bad messages among good ones spend their
attempts; different messages refused in a row, no success between, are the output's."""

from memberflow.messaging.breaker import Breaker


def test_a_success_says_the_refused_messages_were_bad():
    breaker = Breaker(trip_after=3)
    assert breaker.refused("a", down=False) == [] and breaker.refused("b", down=False) == []
    assert breaker.succeeded() == ["a", "b"]  # to charge: the output works
    assert breaker.refused("c", down=False) == []
    assert not breaker.tripped and breaker.finish() == ([], ["c"])


def test_different_messages_refused_in_a_row_trip_it_and_are_spared():
    breaker = Breaker(trip_after=3)
    breaker.refused("a", down=False)
    breaker.refused("b", down=False)
    assert breaker.refused("c", down=False) == ["a", "b", "c"] and breaker.tripped
    assert breaker.refused("d", down=False) == ["d"]  # in flight when it tripped: spared too
    assert breaker.finish() == ([], [])


def test_at_the_end_what_the_output_said_decides():
    down = Breaker(trip_after=5)
    down.refused("a", down=True)
    down.refused("b", down=True)
    assert down.finish() == (["a", "b"], []) and down.tripped  # it said it cannot work

    mixed = Breaker(trip_after=5)
    mixed.refused("a", down=True)
    mixed.refused("b", down=False)
    assert mixed.finish() == ([], ["a", "b"]) and not mixed.tripped

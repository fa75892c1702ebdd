"""An involuntary cancellation end to end: dunning's retries run out, its final action cancels,
and the follow-up takes it from there without a second goodbye."""

from datetime import timedelta

from blocks.gateways.sandbox import SandboxGateway
from tests.support.cancellations import follow_up_day, set_member, touchpoints
from tests.support.clock import at
from tests.support.dunning import failed_renewal, run_day
from tests.support.outputs import Recorder


def test_dunnings_final_action_is_followed_up_as_involuntary_without_a_second_goodbye(
    engine, settings
):
    failed_renewal(
        engine, "broke", card="0002", decline="generic_decline", failed_at=at("2026-12-01 09:30")
    )
    set_member(engine, "m-sub_broke", marketing_consent=True)
    gateway, member_mail, ops, goodbyes = SandboxGateway(), Recorder(), Recorder(), Recorder()
    for n in range(31):
        day = at("2026-12-01 10:00") + timedelta(days=n)
        run_day(engine, settings, gateway, day, member_mail, ops)
        follow_up_day(engine, settings, day, goodbyes)
    assert [m.step for m in member_mail.sent][-1] == "final_notice"
    assert touchpoints(engine)["restore"] == (
        "skipped",
        "the member was just told about the failed payment",
    )
    [winback] = goodbyes.sent  # the restore was not sent; the win-back was, on day 22
    assert winback.step == "winback_14d" and "COMEBACK" in winback.text
    assert touchpoints(engine)["winback_14d"][0] == "sent"

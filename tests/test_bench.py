"""The benchmarks' plain loops still run and still do the engine's work (timing them is the
bench's business, not a test's): a template change the loops do not follow would otherwise
break `make bench` unseen, or let the plain loop skip work the pipeline must do."""

from bench.reminders import build_database, due_messages, run_plain
from tests.support.servers import HttpReceiver


def test_the_plain_loop_renders_what_the_engine_would_and_posts_each_once(tmp_path):
    database = tmp_path / "bench.db"
    build_database(database, total=24, due=20)
    messages = list(due_messages(database))
    assert len(messages) == 20
    for message in messages:  # the signed cancel link every reminder must carry (AB 2863)
        assert "/manage/" in message.text and "/manage/" in message.html
    with HttpReceiver() as receiver:
        result = run_plain(database, receiver.url + "/hook")
    assert result["items"] == 20
    keys = {request.headers["Idempotency-Key"] for request in receiver.requests}
    assert keys == {message.key for message in messages}

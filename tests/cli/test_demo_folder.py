"""The demo keeps to its own folder: it removes only what it made, and refuses to replace a
database it did not make unless told to."""

import pytest

from memberflow.cli.demo_folder import DemoFolder, DemoRefused


def test_a_second_demo_removes_what_the_first_made_and_nothing_else(tmp_path):
    place = DemoFolder(tmp_path / "demo")
    place.prepare()
    before = place.files()
    place.outbox.mkdir()
    (place.outbox / "reminders_renewal.eml").write_text("made by the demo")
    place.database.write_text("the demo's database")
    place.remember(before)
    mine = place.outbox / "my-notes.txt"
    mine.write_text("a file of the user's, put there after the demo ran")
    place.prepare()
    assert mine.read_text().startswith("a file of the user's")
    assert not (place.outbox / "reminders_renewal.eml").exists()
    assert not place.database.exists()


def test_a_database_the_demo_did_not_make_is_refused_unless_reset(tmp_path):
    place = DemoFolder(tmp_path / "demo")
    place.root.mkdir()
    place.database.write_text("somebody's real members")
    with pytest.raises(DemoRefused, match="was not made by the demo.*--reset"):
        place.prepare()
    assert place.database.read_text() == "somebody's real members"
    place.prepare(reset=True)
    assert not place.database.exists()


def test_a_manifest_cannot_reach_outside_the_folder(tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    place = DemoFolder(tmp_path / "demo")
    place.prepare()
    (place.root / ".demo-files").write_text("../precious.txt\n")
    place.prepare()
    assert outside.read_text() == "keep me"

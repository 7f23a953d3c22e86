"""Hot folder picks each complete file once; the outbox survives a reopen and keeps order."""
from pathlib import Path

from inspector.station.hotfolder import HotFolder
from inspector.station.outbox import Outbox


def test_hot_folder_waits_for_settle_then_yields_once(tmp_path: Path) -> None:
    folder = HotFolder(tmp_path, settle_s=0.0)
    (tmp_path / "part-002.png").write_bytes(b"x")
    (tmp_path / "part-001.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("ignored")
    parts = folder.poll()
    assert [p.part_id for p in parts] == ["part-001", "part-002"]
    for part in parts:
        folder.finish(part)
    assert folder.poll() == []
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["part-001.png", "part-002.png"]


def test_hot_folder_skips_file_still_growing(tmp_path: Path) -> None:
    folder = HotFolder(tmp_path, settle_s=10.0)
    (tmp_path / "a.png").write_bytes(b"x")
    assert folder.poll() == []  # first sight: not settled yet


def test_outbox_is_durable_and_ordered(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = [box.put("t", f"m{i}") for i in range(5)]
    box.ack(ids[0])
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert [row[2] for row in box.pending()] == ["m1", "m2", "m3", "m4"]
    assert len(box) == 4

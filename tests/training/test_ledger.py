"""The run ledger: finished units are skipped while their outputs exist, redone when they are gone or failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdacrad_train.ledger import Ledger


def test_a_finished_unit_is_skipped_and_its_time_recorded(tmp_path: Path) -> None:
    ledger, calls = Ledger(tmp_path / "ledger"), []
    assert ledger.run("stage1:fold0", lambda: calls.append(1) or "model") == "model"
    assert ledger.run("stage1:fold0", lambda: calls.append(2)) is None
    assert calls == [1]
    (entry,) = ledger.entries()
    assert entry.unit == "stage1:fold0" and entry.seconds >= 0 and entry.finished.endswith("+00:00")


def test_a_unit_whose_output_is_gone_runs_again(tmp_path: Path) -> None:
    ledger, output, calls = Ledger(tmp_path / "ledger"), tmp_path / "out.txt", []

    def work() -> None:
        calls.append(1)
        output.write_text("x")

    ledger.run("predict:base:fold1", work, complete=output.is_file)
    output.unlink()
    ledger.run("predict:base:fold1", work, complete=output.is_file)
    assert len(calls) == 2 and output.is_file()


def test_a_failed_unit_is_not_recorded(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")

    def boom() -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        ledger.run("stage2:both:fold0", boom)
    assert ledger.entry("stage2:both:fold0") is None and ledger.as_table() == []

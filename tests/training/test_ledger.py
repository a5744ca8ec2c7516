"""The run ledger: finished units are skipped while their outputs exist and their inputs are unchanged, redone
when they are gone, failed, or made from other inputs."""

from __future__ import annotations

import io
import json
import logging
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


@pytest.fixture
def ledger_log():
    """The ledger's log lines (INFO and up) as text; its own handler, since ``pdacrad-train`` stops the package's
    records from propagating to pytest's caplog once a CLI test configured logging."""
    stream, logger = io.StringIO(), logging.getLogger("pdacrad_train.ledger")
    handler, level = logging.StreamHandler(stream), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


class _Unit:
    """A unit with declared inputs: counts its runs and resets."""

    def __init__(self, ledger: Ledger, name: str = "stage2:both:fold1") -> None:
        self.ledger, self.name, self.runs, self.resets = ledger, name, 0, 0
        self.inputs = {"plans": "sha256:" + "a" * 64, "radiomics.json": "sha256:" + "b" * 64}

    def work(self) -> str:
        self.runs += 1
        return "trained"

    def reset(self) -> str:
        self.resets += 1
        return "moved the old fold folder aside"

    def run(self, work=None):
        return self.ledger.run(
            self.name, work or self.work, inputs=lambda: dict(self.inputs), reset=self.reset
        )


def test_a_changed_input_redoes_the_unit_and_says_which_and_why(tmp_path: Path, ledger_log) -> None:
    unit = _Unit(Ledger(tmp_path / "ledger"))
    unit.run()
    unit.run()
    assert (unit.runs, unit.resets) == (1, 0)
    unit.inputs["radiomics.json"] = "sha256:" + "9f3c" * 16
    assert unit.run() == "trained"
    assert (unit.runs, unit.resets) == (2, 1)
    assert (
        "stage2:both:fold1: redo — radiomics.json changed (was sha256 bbbbbbbb…, now sha256 9f3c9f3c…)"
        in ledger_log.getvalue()
    )
    assert (
        "plans changed" not in ledger_log.getvalue()
        and "moved the old fold folder aside" in ledger_log.getvalue()
    )
    assert unit.ledger.entry(unit.name).inputs == unit.inputs  # the new inputs are the baseline now
    unit.run()
    assert unit.runs == 2


def test_a_redo_killed_half_way_resumes_without_a_second_reset(tmp_path: Path) -> None:
    unit = _Unit(Ledger(tmp_path / "ledger"))
    unit.run()
    unit.inputs["plans"] = "sha256:" + "c" * 64

    def killed() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        unit.run(killed)
    assert unit.resets == 1 and unit.ledger.entry(unit.name) is None
    unit.run()  # same inputs as the killed run: nnU-Net resumes, nothing is set aside again
    assert (unit.runs, unit.resets) == (2, 1)


def test_a_killed_unit_rerun_with_other_inputs_starts_afresh(tmp_path: Path, ledger_log) -> None:
    unit = _Unit(Ledger(tmp_path / "ledger"))
    with pytest.raises(KeyboardInterrupt):
        unit.run(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    unit.inputs["plans"] = "sha256:" + "d" * 64
    unit.run()
    assert (unit.runs, unit.resets) == (
        1,
        1,
    ) and "restart (its unfinished run had other inputs)" in ledger_log.getvalue()


def test_an_entry_from_before_input_tracking_stays_done_and_is_logged_once(
    tmp_path: Path, ledger_log
) -> None:
    folder = tmp_path / "ledger"
    folder.mkdir()
    legacy = {"unit": "stage2:both:fold1", "seconds": 12.0, "finished": "2026-01-01T00:00:00+00:00"}
    (folder / "stage2_both_fold1.json").write_text(json.dumps(legacy))
    unit = _Unit(Ledger(folder))
    unit.run()
    unit.run()
    assert unit.runs == 0 and ledger_log.getvalue().count("before pdacrad tracked its inputs") == 1
    unit.inputs["plans"] = "sha256:" + "e" * 64  # a change after that is seen
    unit.run()
    assert (unit.runs, unit.resets) == (1, 1)


def test_an_input_a_newer_pdacrad_tracks_is_adopted_not_a_change(tmp_path: Path) -> None:
    unit = _Unit(Ledger(tmp_path / "ledger"))
    unit.run()
    unit.inputs["oof_masks"] = "sha256:" + "f" * 64
    unit.run()
    assert (unit.runs, unit.resets) == (1, 0)


def test_units_without_inputs_behave_as_before(tmp_path: Path) -> None:
    ledger, calls = Ledger(tmp_path / "ledger"), []
    ledger.run("evaluate", lambda: calls.append(1))
    ledger.run("evaluate", lambda: calls.append(1))
    assert calls == [1] and ledger.entry("evaluate").inputs is None
    assert not (tmp_path / "ledger" / "started").exists() or not any(
        (tmp_path / "ledger" / "started").iterdir()
    )

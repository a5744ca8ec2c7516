"""The report as a reader sees it: every table fits a laptop-wide window with no column left empty, the group names
under the likelihood plot do not overlap, and — where a Chromium or Chrome binary is installed — the page rendered
by a headless browser is no wider than its window."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from pdacrad.evaluation import CaseSources, EvaluationConfig, evaluate_predictions, write_evaluation
from pdacrad.evaluation.plots import score_distribution_figure
from pdacrad.evaluation.subgroups import case_groups, read_case_table

from .conftest import write_cv_predictions

EMPTY = {"", "–", "nan"}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(html: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small report of four variants with a case table whose flags have long names; (report.html, out dir)."""
    tmp = tmp_path_factory.mktemp("report")
    cv = write_cv_predictions(tmp, n=24, separations={"base": 0.1, "maps": 0.5, "global": 0.3, "both": 0.6})
    rows = []
    for i, c in enumerate(cv.variants["base"]):
        positive = int((c.label == 1).any())
        rows.append(
            {
                "case": c.case,
                "lesion_kind": ("texture", "hypo", "both")[(i // 2) % 3] if positive else "none",
                "lesion_diameter_mm": (6.0, 15.0, 30.0)[(i // 2) % 3] if positive else 0.0,
                "dilated_pancreatic_duct": int(not positive and i % 3 == 1),
                "dilated_common_bile_duct": int(not positive and i % 5 == 1),
                "high_noise": int(not positive and i % 4 == 3),
            }
        )
    pd.DataFrame(rows).to_csv(tmp / "cases.csv", index=False)
    result = evaluate_predictions(cv.root, cv.labels_dir, EvaluationConfig(n_bootstrap=50, seed=1))
    files = write_evaluation(result, tmp / "out", ["a note"], CaseSources(read_case_table(tmp / "cases.csv")))
    return files.html, tmp / "out"


def test_every_table_has_named_filled_columns_and_the_pooled_numbers(report: tuple[Path, Path]) -> None:
    html_path, out = report
    html = html_path.read_text()
    tables = _tables(html)
    assert len(tables) == 5  # pooled, paired tests, subgroups, Brier, per fold
    for table in tables:
        header, body = table[0], table[1:]
        assert all(h.strip() for h in header), f"unnamed column in {header}"
        assert all(len(row) == len(header) for row in body), "a row with more cells than headers (an index?)"
        for k, name in enumerate(header):
            assert any(row[k] not in EMPTY for row in body), f"column {name!r} is empty in every row"
    pooled_header = tables[0][0]
    assert len(pooled_header) <= 10, f"the pooled table is too wide to read: {pooled_header}"
    assert pooled_header[0] == "variant" and "label" not in pooled_header  # once, as the reader names it
    # nothing lost: every pooled estimate and CI bound is on the page
    metrics = pd.read_csv(out / "metrics.csv", dtype={"fold": str})
    pooled = metrics[metrics["fold"] == "pooled"]
    cells = {cell for row in tables[0][1:] for cell in row}
    for _, row in pooled.iterrows():
        for name in ("AUROC", "AP", "score"):
            assert f"{row[name]:.3f} [{row[f'{name}_low']:.3f}, {row[f'{name}_high']:.3f}]" in cells
    subgroup_header = tables[2][0]
    assert subgroup_header[:2] == ["comparison", "cases (+/−)"] and "label" not in subgroup_header
    assert "lesions &lt; 10 mm" in html, "cell text is escaped"


@pytest.mark.parametrize("n_flags, name_length", [(4, 12), (12, 40)])
def test_likelihood_plot_group_names_do_not_overlap(n_flags: int, name_length: int, tmp_path: Path) -> None:
    # the study's groups (4 confounders, short names) and a crowd of long names: neither may overprint
    cv = write_cv_predictions(tmp_path, n=12, separations={"base": 0.1, "maps": 0.5})
    result = evaluate_predictions(cv.root, cv.labels_dir, EvaluationConfig(n_bootstrap=10))
    cases = [c.case for c in cv.variants["base"]]
    labels = {c: int(i % 2 == 0) for i, c in enumerate(cases)}
    table = pd.DataFrame({"case": cases, "lesion_kind": ["texture" if labels[c] else "none" for c in cases]})
    for k in range(n_flags):
        flag = f"flag{k}_".ljust(name_length, "x")
        table[flag] = [int(not labels[c] and (i + k) % 3 == 1) for i, c in enumerate(cases)]
    table.to_csv(tmp_path / "cases.csv", index=False)
    groups = case_groups(labels, read_case_table(tmp_path / "cases.csv"))
    assert len(groups) >= n_flags + 1
    fig = score_distribution_figure(result.variants, groups)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert len(boxes) == len(groups)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), "two group names under the likelihood plot overlap"
        assert a.x0 >= 0 and a.x1 <= fig.bbox.x1 and a.y0 >= 0, "a group name is cut off at the figure's edge"
    legend_artist = ax.get_legend()
    assert legend_artist is not None
    legend = legend_artist.get_window_extent(renderer)
    axes = ax.get_window_extent(renderer)
    assert axes.x1 - 1 <= legend.x0 and legend.x1 <= fig.bbox.x1, "the legend hides dots or is cut off"


@pytest.fixture
def browser() -> str:
    """A Chromium or Chrome binary (``PDACRAD_CHROME``, else the first of :data:`BROWSERS` on PATH); skips the
    test where there is none (CI machines may lack one)."""
    found = os.environ.get("PDACRAD_CHROME") or next(
        (path for name in BROWSERS if (path := shutil.which(name))), None
    )
    if found is None:
        pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} on PATH and PDACRAD_CHROME unset")
    return found


_PROBE = """<script>
const tables = [...document.querySelectorAll("table")].map(t => {
  const rows = [...t.querySelectorAll("tbody tr")].map(r => [...r.children].map(c => c.textContent.trim()));
  const names = [...t.querySelectorAll("thead th")].map(c => c.textContent.trim());
  const empty = names.filter((_, k) => rows.every(r => ["", "–"].includes(r[k] ?? "")));
  return {width: t.getBoundingClientRect().width, box: t.parentElement.clientWidth, empty: empty};
});
const images = [...document.images].map(i => i.getBoundingClientRect().right);
document.body.setAttribute("data-layout", JSON.stringify({window: window.innerWidth,
  page: document.documentElement.scrollWidth, tables: tables, images: images}));
</script></body>"""


def _layout(browser: str, page: Path, width: int, profile: Path) -> dict:
    """Render ``page`` in a headless browser ``width`` CSS pixels wide; the probe's measurements."""
    probed = page.with_name(f"probe_{width}.html")
    probed.write_text(page.read_text().replace("</body>", _PROBE))
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
    command += [f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, f"the probe did not run in {browser}: {dom[:300]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_report_fits_the_window_of_a_headless_browser(
    browser: str, report: tuple[Path, Path], tmp_path: Path
) -> None:
    wide = _layout(browser, report[0], 1280, tmp_path / "profile")
    assert wide["page"] <= wide["window"], f"the page is wider than a 1280 px window: {wide}"
    assert len(wide["tables"]) == 5 and all(not t["empty"] for t in wide["tables"]), wide["tables"]
    assert all(t["width"] <= t["box"] for t in wide["tables"]), f"a table needs scrolling at 1280 px: {wide}"
    assert all(right <= wide["window"] for right in wide["images"])
    # a narrow window: tables may scroll inside their own box, the page itself never sideways
    narrow = _layout(browser, report[0], 800, tmp_path / "profile")
    assert narrow["page"] <= narrow["window"], f"the page is wider than an 800 px window: {narrow}"
    assert all(right <= narrow["window"] for right in narrow["images"])

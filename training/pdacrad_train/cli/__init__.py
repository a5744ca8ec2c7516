"""The ``pdacrad-train`` command line: one resumable step per sub-command, configured by a YAML in
``training/configs/``.

The only package of the training tree that imports typer. Its modules define the commands; this one builds the app
(with :func:`pdacrad.cli.plumbing.new_app`; errors become exit codes through
:func:`pdacrad.cli.plumbing.exit_on_error`, see :func:`pdacrad_train.cli.common.step`) and registers them:

- :mod:`.study`: ``convert``, ``splits``, ``fit``, ``experiment``, ``select-checkpoint``, ``export``
- :mod:`.radiomics`: ``global-features``, ``select``, ``maps``
- :mod:`.results`: ``evaluate``, ``calibrate``, ``record``
- :mod:`.analyze`: ``analyze <step>`` (radiomics statistics on tables)
"""

from __future__ import annotations

from pdacrad.cli.plumbing import new_app
from pdacrad_train.cli import analyze, radiomics, results, study

app = new_app(
    "pdacrad-train",
    help=(
        "Training tree of pdacrad. `experiment` runs the whole cross-validated study (all folds, out-of-fold "
        "Stage 1, four Stage-2 variants, ablation table); its steps stay callable alone, in order: convert → splits "
        "→ fit → global-features → select → maps → fit → evaluate → export. Each step is resumable and reads the "
        "same config YAML "
        "(training/configs/synthetic-demo.yaml runs end to end on CPU; panorama.yaml is the real recipe). "
        "nnU-Net's nnUNet_raw, nnUNet_preprocessed and nnUNet_results environment variables are respected."
    ),
    # The training tree logs under its own package name, through the same handler as pdacrad's.
    log_packages=("pdacrad", "pdacrad_train"),
)


def main() -> None:
    """Console-script entry point."""
    app()


app.command("convert")(study.convert_command)
app.command("splits")(study.splits_command)
app.command("fit")(study.fit_command)
app.command("experiment")(study.experiment_command)
app.command("select-checkpoint")(study.select_checkpoint_command)
app.command("export")(study.export_command)
app.command("global-features")(radiomics.global_features_command)
app.command("select")(radiomics.select_command)
app.command("maps")(radiomics.maps_command)
app.command("evaluate")(results.evaluate_command)
app.command("calibrate")(results.calibrate_command)
app.command("record")(results.record_command)
app.add_typer(analyze.app, name="analyze")

"""pdacrad-train: the training tree that produces ``resources/`` (orchestration only; the maths lives in
:mod:`pdacrad`). ``pdacrad`` never imports this package.

Three kinds of module, and what each may import:

**Steps** (:mod:`pdacrad_train.steps`), one module per step of the experiment, named after it and run in this
order by :mod:`pdacrad_train.experiment` (``pdacrad-train experiment --steps ...``)::

    steps/prepare.py      convert (cohort → nnU-Net raw datasets) + splits (the folds)
    steps/stage1.py       Stage 1 of every fold
    steps/oof.py          out-of-fold Stage-1 masks
    steps/radiomics/      global_features.py, select.py, maps.py: Stage 2's radiomics inputs
    steps/stage2.py       every variant × fold of Stage 2 (snapshots every picai_every epochs)
    steps/select_checkpoint.py   PI-CAI checkpoint selection of every variant × fold, through the prediction pipeline
    steps/predict.py      cross-validated predictions through the container's code
    steps/evaluate.py     the ablation table and report
    steps/export.py       trained models → resources/ (after the study)
    steps/record.py       the table's inputs out of the work folder (after the study)

Steps never import each other: they take the config and the :class:`~pdacrad_train.workspace.Workspace`, which
holds every path of a run, and use the library.

**Library**, flat modules named for what they are: :mod:`~pdacrad_train.config` (the YAML recipe),
:mod:`~pdacrad_train.workspace` (every path), :mod:`~pdacrad_train.ledger` (the run ledger),
:mod:`~pdacrad_train.input_digests` (what a unit was made from, cheaply: a changed input redoes it),
:mod:`~pdacrad_train.units` (which units a run executes: the list the steps iterate),
:mod:`~pdacrad_train.cost_basis`, :mod:`~pdacrad_train.cost_plan` and :mod:`~pdacrad_train.cost_report` (what those
units will cost, ``experiment --plan``, from ``configs/costs/basis.json``),
:mod:`~pdacrad_train.splits` (folds), :mod:`~pdacrad_train.cases` (the case table),
:mod:`~pdacrad_train.variants` (the four Stage-2 variants and their selections),
:mod:`~pdacrad_train.nnunet_run` (plan, preprocess, train one fold through nnU-Net),
:mod:`~pdacrad_train.radiomics_config` (the radiomics side file), :mod:`~pdacrad_train.masks` (where a case's
pancreas comes from), :mod:`~pdacrad_train.feature_selection` (the scikit-learn pipeline),
:mod:`~pdacrad_train.map_cache` (the per-feature map cache), :mod:`~pdacrad_train.feature_cache` (the
global-features cache), :mod:`~pdacrad_train.parallel` (the Dask cluster), :mod:`~pdacrad_train.cv_prediction`
(one fold model predicting its validation cases through the container's code, from one checkpoint file),
:mod:`~pdacrad_train.checkpoint_candidates` (a fold's snapshots and the PI-CAI score of a folder of predictions).
The library imports no step.

**Command line** (:mod:`pdacrad_train.cli`), the only package that imports typer: every ``pdacrad-train``
command, each a thin shell over one step or library function.
"""

"""The experiment's steps, one module (or package) each, in the order :mod:`pdacrad_train.experiment` runs them.

- :mod:`.prepare`: ``convert`` (cohort → nnU-Net raw datasets of both stages) and ``splits`` (the folds)
- :mod:`.stage1`: Stage 1 of every fold, incl. nnU-Net's final validation
- :mod:`.oof`: the out-of-fold Stage-1 masks, ``<work_dir>/stage1_oof/``
- :mod:`.radiomics`: ``global-features``, ``select``, ``maps``: Stage 2's radiomics inputs
- :mod:`.stage2`: every variant × fold of Stage 2
- :mod:`.select_checkpoint`: PI-CAI checkpoint selection of every variant × fold, offline, through the prediction
  pipeline (both checkpoints' CV predictions as a by-product)
- :mod:`.predict`: cross-validated predictions through the container's Stage-2 code
- :mod:`.evaluate`: the ablation table and report

After the study, outside ``experiment``: :mod:`.export` (trained models → ``resources/``) and :mod:`.record` (the
table's inputs out of the work folder). Steps take the config and the :class:`~pdacrad_train.workspace.Workspace`,
which says where everything is; they do not import each other, only the library modules of ``pdacrad_train``.
"""

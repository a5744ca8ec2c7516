"""pdacrad: radiomics-enhanced two-stage nnU-Net detection of PDAC on portal-venous CT.

The library, one subpackage per stage, lower layers first (a module imports only from its own layer or below;
nothing imports ``cli``; the training tree ``training/pdacrad_train`` imports pdacrad, never the reverse)::

    errors, labels   the two foundation modules: named errors and exit codes; the PANORAMA label schema
    io               Grand-Challenge paths, input discovery and validation, atomic writes, the predictions layout
                     on disk (``io.predictions``); SimpleITK, no torch
    stats            statistics of case-level scores: bootstrap CIs, paired bootstrap, DeLong (numpy, scipy)
    radiomics        PyRadiomics-exact voxel-wise feature maps (torch, numba); knows nothing of nnU-Net or GC I/O
    preprocessing    CT intensity checks, the Stage-2 ROI
    postprocessing   lesion candidates, likelihood, pasting back into the input geometry
    nnunet_ext       nnU-Net v2 variants: the Stage-2 network (runtime) and trainers (training)
    synth            the synthetic PANORAMA-format cohort
    model            the packaged model ``resources/``: manifest, ``radiomics.json``, model-folder checks
    inference        the two-stage pipeline, one Grand-Challenge case (``inference.case``), the cohort runner
                     (``inference.cohort``, Dask) and the case report (``inference.report``)
    evaluation       PI-CAI metrics of cross-validation predictions (picai_eval; ``[train]`` extra)
    radiomics_stats  radiomics statistics: ICC, ComBat, model comparison, calibration, survival (``[analysis]``)
    cli              the ``pdacrad`` command (typer) and the plumbing it shares with ``pdacrad-train``: app
                     recipe, error-to-exit-code mapping, logging set-up; ``process.py`` runs its ``predict``

The runtime (what the container installs) is errors, labels, io, radiomics, preprocessing, postprocessing,
nnunet_ext's network, model, inference and cli; ``evaluation`` and ``radiomics_stats`` need the extras.
"""

__version__ = "0.1.0"

"""The packaged model (``resources/``): its manifest of checksums (:mod:`~pdacrad.model.manifest`), the
``radiomics.json`` that says which radiomics inputs Stage 2 takes (:mod:`~pdacrad.model.radiomics_spec`), and the
checks that a model folder matches both (:mod:`~pdacrad.model.checks`)."""

"""The counting of the matrix families GLRLM, GLSZM, GLDM and NGTDM, gathered in one place (as PyRadiomics keeps its
counting in one C module, ``_cmatrices``); private to the engine: the family modules call it, users do not.

- :mod:`~pdacrad.radiomics.counting.common`: angles, neighbour tables, histograms and the other helpers these
  families share (GLCM's counting uses its neighbour tables too);
- :mod:`~pdacrad.radiomics.counting.runs`: GLRLM run lengths of a whole volume, in torch (the CUDA path);
- :mod:`~pdacrad.radiomics.counting.runs_cpu`: GLRLM run counts per kernel, compiled (the CPU path);
- :mod:`~pdacrad.radiomics.counting.zones_cpu`: GLSZM zones per kernel by a compiled union-find (the CPU path);
- :mod:`~pdacrad.radiomics.counting.neighbourhood_cpu`: NGTDM tone differences and GLDM dependences per kernel,
  compiled (the CPU path).

Every compiled path gives the torch path's integers bit for bit (``tests/radiomics/counting/``). GLCM keeps its
co-occurrence counting in its own sub-package (:mod:`pdacrad.radiomics.glcm`), whose compiled counting is fused
with its formulas.
"""

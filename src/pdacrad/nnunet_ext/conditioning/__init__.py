"""The per-case global radiomics vector that conditions the Stage-2 network: storage, data loading, steps."""

"""pdacrad-train: the training tree that produces ``resources/`` (orchestration only; the maths lives in
:mod:`pdacrad`). ``pdacrad`` never imports this package."""

"""The networks of pdacrad's trainer variants and their builder for inference (no training code)."""

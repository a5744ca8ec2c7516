"""nnU-Net trainer variants of pdacrad (import nnU-Net's training stack)."""

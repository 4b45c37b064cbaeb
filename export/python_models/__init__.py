"""Triton Python-backend model files shipped into exported repositories."""

"""Python-backend adapter models: copied into the shadow repository, where they become ``model.py``."""

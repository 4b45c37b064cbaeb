"""Leaf modules shared by ``export``, ``server`` and ``client``: the repository format and the error model.

Nothing here imports torch, transformers or another tritonize package.
"""

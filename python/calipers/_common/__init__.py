"""Helpers every layer shares: the one validation layer (:mod:`.validate`), the sketch
layout and fine grid (:mod:`.grid`), bin edges under every convention (:mod:`.binning`),
per-bin statistics (:mod:`.binstats`), the binary formats (:mod:`.serde`) and optional
dependencies (:mod:`.optional`).

This layer imports nothing of calipers outside itself.
"""

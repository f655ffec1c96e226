"""Benchmarks: each one module that composes the episodes and results layers (precision,
parts, ablation, transfer, speed, scale). Nothing in the library below imports them.
"""

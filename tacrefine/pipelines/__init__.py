"""Pipelines: the main job (data -> training -> benchmark) and adaptation to a user's parts,
as library functions a notebook can call; ``tacrefine.cli`` only parses their arguments.
"""

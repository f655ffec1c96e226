"""Results of episodes: statistics, the report schema, Markdown, plots and the written
evaluation. Imports the episodes layer, never a benchmark.
"""

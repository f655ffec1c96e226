"""Running episodes: env and policy construction, the episode loop, jobs, the journal and
orchestration over an executor. Imports nothing of the results or benchmarks layers.
"""

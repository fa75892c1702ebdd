"""memberflow's domain core: models, store, schedule rules, rendering, outputs' plumbing.

Nothing in this package imports Prefect; flows/, tasks/ and blocks/ sit on top of it.
"""

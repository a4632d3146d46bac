"""`run --decide`: seeds allocated to a study's open questions until each is answered or the
budget is spent, with Stein's two-stage procedure (reports/stein.py).

    allocate.py  which claims, their pilot, Stein's n, what the budget funds (pure functions)
    phase.py     the decide phase: runs the plan's trials on Ray Tune, resumable
"""

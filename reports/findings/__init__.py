"""The paper's claims as verdicts: claims.py tests them on the stored seeds, budgets.py the
parameter-budget winners, page.py draws the findings page and its CSV."""

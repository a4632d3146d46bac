"""The report's figures: the paper's Figures 1 and 2, expected validation performance,
the search's trajectories and parameter importance, one module per figure."""

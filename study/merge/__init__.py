"""Per-task adapters combined into one multi-task model (paper Sec. 4.2.3, Table 3 bottom).

stage1.py  train the per-task adapters once (a standard and an OrthoAda set), or reuse them
stage2.py  stage 2: a trial that merges them with λ per task and scores dev, training nothing
recipe.py  a merge trial's folder and merge.json, from which the merged model is rebuilt
"""

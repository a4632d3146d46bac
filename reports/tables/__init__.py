"""The paper's tables: paper.py builds them from stored rows, methods.py the peft-method
comparison, model.py the Table type and summaries, render.py draws pages, export.py writes
CSV, Markdown and TeX."""

"""Assembling the report: pdf.py writes report.pdf page by page, text_pages.py lays out
text-only pages."""

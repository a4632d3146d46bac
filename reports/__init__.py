"""Reports: tables and figures of a study folder, rebuilt from trials.jsonl + study.json only
(no Ray, no training). Entry point: reports.cli.run(args) for `python -m study report`."""

"""A study folder's durable records, in one place.

    record.py  TrialRecord (one trial: config, scores, counts, how it ran) and its Status
    jsonl.py   trials.jsonl: one record per line, appended durably, read back whole
    select.py  best(): the one rule for "the best trial" (by validation, over seeds)
    meta.py    study.json: StudyMeta, how the study was made
    running.py running.json: the trials running now (for `status`)
    decisions.py  decide.json: the plan of `run --decide` (DecidePlan)
    frame.py   load_trials / load_epochs: the rows as a pandas DataFrame

Written by study/tuning; read by reports/, predict, status and resume.
"""

from study.records.jsonl import append_record, best_record, finished_records, read_records
from study.records.meta import (
    META_FORMAT,
    STUDY_META,
    MetaFormatError,
    StudyMeta,
    read_meta,
    write_meta,
)
from study.records.record import (
    COUNTS,
    RECORD_FORMAT,
    TRIALS,
    EpochScores,
    MergeInfo,
    RecordFormatError,
    Status,
    TrialRecord,
)
from study.records.select import (
    Configuration,
    best,
    config_key,
    params_text,
    rank_configurations,
)

__all__ = [
    "COUNTS",
    "META_FORMAT",
    "RECORD_FORMAT",
    "STUDY_META",
    "TRIALS",
    "Configuration",
    "EpochScores",
    "MergeInfo",
    "MetaFormatError",
    "RecordFormatError",
    "Status",
    "StudyMeta",
    "TrialRecord",
    "append_record",
    "best",
    "best_record",
    "config_key",
    "finished_records",
    "params_text",
    "rank_configurations",
    "read_meta",
    "read_records",
    "write_meta",
]

"""`python -m study bench`: where a trial's time goes, as ratios measured in one run.

main.py     what is measured, in which order, and the targets
steps.py    step time and FLOP/s of full, LoRA and DoRA steps on the same batches
padding.py  padding efficiency of the batcher
trials.py   whole trials: fp32 against bf16, peak RSS, the same trial under Ray Tune
between.py  the Tune callback that runs a plain trial between Ray trials
peer.py     Hugging Face Trainer + peft against our loop
asha.py     what early stopping saved in a study folder
report.py   the printed table
RESULTS.md  every recorded run, and what was tried
"""

"""Table 1 and Figure 2: full fine-tuning, sequential, head design 1-3 x the 6 task orders.

The paper's heads on [CLS] at the smoke and paper scales. At the cpu scale, on the embedded
model (a mean-pooled bi-encoder), the paper's [CLS] heads start far below the no-training
floors (Para 0.695 and STS 0.703 against 0.764 and 0.832), so each design starts from what it
can take of the cpu scale's calibrated start: mean pooling and its head learning rate for all
three, and the calibrated cosine pair head (Eq. 2 with W1 = W2 = I) for design 2, the one
design it is. The cpu preset runs one task order, sst-para-sts, with 3 seeds per design: the
head-design claim is then paired over seeds within that order.
"""

from search_spaces.spec import TASK_ORDERS, Choice, StudySpec

STUDY = StudySpec(
    name="full_finetune",
    description="Table 1 + Figure 2: full fine-tuning, head design x task order",
    base={"mode": "sequential", "method": "full", "pair_head": "paper", "pooling": "cls"},
    scale_base={"cpu": {"pair_head": "auto", "pooling": "mean"}},
    space={"head_design": Choice((1, 2, 3)), "task_order": Choice(TASK_ORDERS)},
    # Order by order, the three designs of each: a scale that runs the first 3 points runs
    # every design in the first order. paper: the whole 3 x 6 grid.
    points_to_evaluate=tuple(
        {"head_design": d, "task_order": o} for o in TASK_ORDERS for d in (3, 1, 2)
    ),
    samples={"smoke": 2, "cpu": 3, "paper": 18},
    seeds={"smoke": 1, "cpu": 3, "paper": 3},
    scheduler=None,  # a grid: every cell runs to the end
)

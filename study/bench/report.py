"""The benchmark's printed table (the JSON file holds the same numbers, unrounded)."""

from __future__ import annotations

from typing import Any

LEGEND = {
    "throughput_over_trainer_grouped": "train samples/s, ours (default precision) / HF Trainer "
    "+ peft with length grouping (its default fp32)",
    "padding_efficiency": "real/padded tokens of our batcher, worst of SST and Quora train files",
    "flops_peak_fraction": "achieved training FLOP/s of LoRA qkv r=16 / GEMM peak read beside "
    "its timed blocks, default precision",
    "full_over_lora_step": "step time full fine-tuning / LoRA qkv r=16, default precision",
    "dora_over_lora_step": "step time DoRA / LoRA (qkv, r=16), default precision",
    "ray_overhead_pct": "% a reused Ray worker's trial (end to end) takes beyond the same "
    "trial in a plain process run after each, Ray's processes stopped meanwhile (mean vs mean)",
    "peak_rss_mb": "peak RSS of one trial process (MiB), largest of the measured configs",
    "fp32_bf16_max_abs_diff": "largest |fp32 - bf16| over dev sst, para, sts, overall",
}


def print_report(result: dict[str, Any]) -> None:
    if "asha" in result:
        _asha(result["asha"])
        return
    m = result["meta"]
    gpu = f"  GPU {m['gpu']}" if m.get("gpu") else ""
    family = f" family {m['cpu_family']} model {m['cpu_model']}" if m.get("cpu_family") else ""
    print(
        f"peft-study bench  {m['date']}  {m['cpu']}{family} ({m['cores']} cores){gpu}  "
        f"torch {m['torch']}"
    )
    print(
        f"load average before {_load(m['load_average_before'])}, after "
        f"{_load(m['load_average_after'])}; default precision {m['default_precision']}"
        + ("; --quick: fewer steps, a smaller trial, no Ray, no Trainer" if m["quick"] else "")
    )
    g = result["gemm"]
    peaks = ", ".join(
        f"{p} {g[p + '_gflops']:.0f} GFLOP/s (at 1024x384x1536: {g['shape_' + p + '_gflops']:.0f})"
        for p in ("fp32", "bf16")
        if f"{p}_gflops" in g
    )
    print(f"\nGEMM peak ({g['size']}^3): {peaks}")
    _steps(result["steps"])
    _padding(result["padding"])
    _trials(result)
    for key, show in (("compile", _compile), ("peer", _peer), ("ray", _ray)):
        if key in result and "error" in result[key]:
            print(f"\n{key}: FAILED: {result[key]['error']}")
        elif key in result:
            show(result[key])
    print(
        "\ntargets"
        + (" (--quick: few steps and a small trial, indicative only)" if m["quick"] else "")
        + (" (set for 2 CPU cores; on a GPU they are readings, not goals)" if gpu else "")
    )
    for name, t in result["targets"].items():
        met = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        if t["met"] is None and t["value"] is not None:
            met = "reported"  # e.g. Ray's overhead on fewer than 4 cores
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        print(f"  {name:<32} {value:>9}  {t['target']:<9} {met:<8} {LEGEND[name]}")
    if result["precision"]["agree"] is False and m["default_precision"] == "bf16":
        print(
            "\n!!! fp32 and bf16 dev metrics differ by more than "
            f"{result['precision']['tolerance']}: the default precision should be fp32 !!!"
        )


def _steps(s: dict[str, Any]) -> None:
    print(
        f"\nsteps ({s['task']}, {s['batches']} batches of {s['batch_size']}, "
        f"~{s['mean_padded_tokens']:.0f} padded tokens, {s['threads']} threads)"
    )
    print(
        f"  {'method':<22}{'prec':<6}{'step ms':>9}{'fwd':>7}{'bwd':>7}{'opt':>7}"
        f"{'tok/s':>8}{'GFLOP/s':>9}{'of peak':>8}"
    )
    for name, per in s["methods"].items():
        for p, r in per.items():
            print(
                f"  {name:<22}{p:<6}{1e3 * r['step_s']:>9.1f}{1e3 * r['forward_s']:>7.0f}"
                f"{1e3 * r['backward_s']:>7.0f}{1e3 * r['optimizer_s']:>7.0f}"
                f"{r['tokens_per_s']:>8.0f}{r['gflops']:>9.1f}{r['peak_fraction']:>8.0%}"
            )
    for p in (p for p in ("fp32", "bf16") if p in s["ratios"]):
        r = s["ratios"][p]
        print(
            f"  {p}: full/LoRA {r['full_over_lora']:.2f}  DoRA/LoRA {r['dora_over_lora']:.2f}  "
            f"LoRA all_linear r64/LoRA qkv r16 {r['lora_all_linear_r64_over_lora']:.2f}"
        )
    for p, r in s["methods"]["lora_qkv_r16"].items():
        if "paired_peak_gflops" in r:
            print(
                f"  GEMM peak read before each LoRA qkv r16 block ({p}): "
                f"{r['paired_peak_gflops']:.0f} GFLOP/s; LoRA at {r['paired_peak_fraction']:.0%} of it"
            )
    speed = "  ".join(f"{k} {v:.2f}" for k, v in s["ratios"]["fp32_over_bf16"].items()) or "-"
    print(f"  fp32/bf16 step time: {speed}")
    f = s["lora_fixed_128"]
    print(
        f"  LoRA qkv r16 ({f['precision']}) on the same batches padded to 128 tokens: "
        f"{1e3 * f['step_s']:.1f} ms = {f['over_dynamic']:.2f}x the dynamic padding"
    )
    td = s.get("torch_dropout")  # CPU runs only
    if td:
        rows = ", ".join(
            f"{m} {1e3 * r['step_s']:.1f} ms (fast dropout is {r['fast_dropout_speedup']:.2f}x faster)"
            for m, r in td["methods"].items()
        )
        print(
            f"  with torch's own dropout ({td['precision']}) instead of the fast one: {rows}; "
            f"full/LoRA {td['full_over_lora']:.2f}"
        )


def _padding(p: dict[str, Any]) -> None:
    print(f"\npadding efficiency (real / padded tokens, batch {p['batch_size']})")
    print(f"  {'data':<12}{'rows':>7}{'ours':>7}{'random':>8}{'fixed 128':>10}{'sorted':>8}")
    for key, r in p.items():
        if isinstance(r, dict):
            print(
                f"  {key:<12}{r['examples']:>7}{r['ours']:>7.2f}{r['random']:>8.2f}"
                f"{r['fixed_128']:>10.2f}{r['sorted']:>8.2f}"
            )


def _trials(result: dict[str, Any]) -> None:
    pr, tr = result["precision"], result["trial"]
    cfg = tr["config"]
    print(
        f"\ntrial {cfg['method']} r={cfg['r']} {cfg['mode']}, {cfg['train_per_task']} train / "
        f"{cfg['dev_per_task']} dev per task, {cfg['epochs']} epochs (a fresh process per precision)"
    )
    for p in (p for p in ("fp32", "bf16") if p in pr):
        r = pr[p]
        print(
            f"  {p}: sst {r['sst']:.4f} para {r['para']:.4f} sts {r['sts']:.4f} overall "
            f"{r['overall']:.4f}  {r['seconds']:.1f} s  peak RSS {r['peak_rss_mb']:.0f} MiB  "
            f"imports {r['import_s']:.1f} s"
        )
    if pr["agree"] is None:
        print("  bf16 not measured: this CPU has no fast bf16, so fp32 is the only precision")
    else:
        verdict = "agree" if pr["agree"] else "DO NOT AGREE"
        gap = pr["max_abs_diff"]
        print(f"  max |fp32 - bf16| = {gap:.4f} -> {verdict} within {pr['tolerance']}")
    shares = "  ".join(f"{k} {v:.0%}" for k, v in tr["shares"].items())
    print(
        f"  time split ({tr['precision']}): {shares}; outside forward/backward/step "
        f"{tr['outside_compute_share']:.0%} (tokenize is part of setup)"
    )
    if "full_smoke_peak_rss_mb" in result["memory"]:
        print(
            f"  full fine-tuning trial peak RSS {result['memory']['full_smoke_peak_rss_mb']:.0f} MiB"
        )
    for name, mb in result["memory"].get("largest_peak_rss_mb", {}).items():
        print(f"  {name} trial (one epoch) peak RSS {mb:.0f} MiB")


def _peer(p: dict[str, Any]) -> None:
    print(
        f"\npeer: HF Trainer + peft, SST {p['examples']} examples x {p['epochs']} epochs, "
        f"batch {p['batch_size']}, LoRA qkv r=16 (train samples/s)"
    )

    def runs(r: dict[str, Any]) -> str:  # the target pair ran twice (ABBA order)
        both = r.get("runs_samples_per_s")
        return f"  (mean of {both[0]:.1f}, {both[1]:.1f})" if both else ""

    for prec, r in sorted(p["ours"].items()):
        print(f"  ours {prec:<26}{r['samples_per_s']:>7.1f}{runs(r)}")
    for name, r in p["trainer"].items():
        print(f"  Trainer {name:<23}{r['samples_per_s']:>7.1f}{runs(r)}")
    print(
        f"  ours ({p['our_default_precision']}) / Trainer grouped fp32 "
        f"{p['ours_over_trainer_grouped_fp32']:.2f}; same precision "
        f"{p['ours_over_trainer_grouped_same_precision']:.2f}; fp32 vs random fp32 "
        f"{p['ours_fp32_over_trainer_random_fp32']:.2f}"
    )


def _ray(r: dict[str, Any]) -> None:
    secs = ", ".join(f"{t['seconds']:.1f}" for t in r["trials"])
    rss = ", ".join(f"{t['peak_rss_mb']:.0f}" for t in r["trials"] if t.get("peak_rss_mb"))
    print(
        f"\nRay Tune (study smoke, the same trial {len(r['trials'])} times, one at a time, "
        f"{r['workers']} worker process(es)): ray.init {r['ray_init_s']:.1f} s; run_trial in the "
        f"worker {secs} s; peak RSS {rss} MiB"
    )
    walls = ", ".join(f"{g:.1f}" for g in r["reused_trial_wall_s"])
    plain = ", ".join(f"{t:.1f}" for t in r["inprocess_s"])
    print(
        f"  per study: {r['first_trial_startup_s']:.1f} s before the first trial (ray.init, "
        f"Tune, worker start, imports); per reused trial: {walls} s wall against {plain} s "
        "in a warm plain process right after each Ray trial, while the study waited and Ray's "
        f"other processes were stopped: mean vs mean {r['mean_overhead_pct']:+.1f}% (fastest vs fastest "
        f"{r['overhead_pct']:+.1f}%); {r['reused_between_trials_s']:.1f} s between trials"
    )


def _asha(a: dict[str, Any]) -> None:
    print(f"early stopping in {a['study_dir']}")
    print(
        f"  {a['trials']} trials ({a['completed']} completed, {a['stopped_early']} stopped early, "
        f"{a['errored']} errored left out): {a['trial_epochs_run']} of "
        f"{a['trial_epochs_budget']} trial-epochs run, saved {a['saved_fraction']:.0%}"
    )
    survived = "yes" if a["best_survived"] else "NO"
    print(
        f"  best completed {a['best_trial']} (overall {a['best_overall']}); best configuration "
        f"survived: {survived}; stopped trials ahead of it at their last epoch: "
        f"{a['stopped_ahead_of_best'] or 'none'}"
    )


def _load(values: Any) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _compile(c: dict[str, Any]) -> None:
    print(
        f"\ntorch.compile against the pack ({c['precision']}, LoRA qkv r16 step, {c['blocks']} "
        f"paired blocks of {c['steps_per_block']} steps; compile {c['compile_s']:.1f} s apart)"
    )
    for name, v in c["variants"].items():
        blocks = " ".join(f"{1e3 * b:.0f}" for b in v["blocks_s"])
        print(f"  {name:<34}{1e3 * v['step_s']:>8.1f} ms   blocks {blocks}")
    ratios = " ".join(f"{r:.3f}" for r in c["compiled_over_pack"])
    verdict = (
        "the pack beats it by >= 5% on every block" if c["pack_beats_compile"] else "NOT 5% faster"
    )
    print(f"  compiled / pack per block: {ratios}: {verdict}")
    for name, by_step in c["rewrite_gain"].items():
        if isinstance(by_step, list):  # written before DoRA's step was timed too
            by_step = {"lora": by_step}
        kept = c.get("rewrite_keeps", {}).get(name)
        verdict = "" if kept is None else ("earns its place" if kept else "under 5%: remove")
        steps = "; ".join(
            f"{s} {' '.join(f'{g:.3f}' for g in gains)}" for s, gains in by_step.items()
        )
        print(f"  step without {name} / the pack's: {steps}: {verdict}")

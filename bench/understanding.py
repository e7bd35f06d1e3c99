"""How well the intent engine (models/intents.py) understands free-form messages, and its cost.

Default: the held-out files written independently of the training phrasings
(tests/data/intents_heldout.tsv: ``intent<TAB>text``; tests/data/danger_benign_heldout.txt: one
harmless sentence with 打/杀/死/锁/跳 a line). Prints accuracy overall and per intent, the
confusion cells off the diagonal, danger recall and false alarms at DANGER_THRESHOLD,
classification median / p99 per message (ms), the model build time (s) and the resident memory
the engine adds (MB, VmRSS from /proc/self/status before and after the first build).

``--dev``: 5-fold cross-validation on the shipped phrasings alone (never the held-out files):
the same figures plus the danger probabilities that chose DANGER_THRESHOLD.

Targets (issue 14): ≥ 95 % overall, ≥ 85 % per intent, danger recall 100 %, 0 false alarms,
≤ 1 ms median, ≤ 3 ms p99, build ≤ 5 s, ≤ 150 MB.

    .venv/bin/python bench/understanding.py [--dev] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELDOUT = ROOT / "tests" / "data" / "intents_heldout.tsv"
BENIGN = ROOT / "tests" / "data" / "danger_benign_heldout.txt"
DEV = ROOT / "tests" / "data" / "intents_dev.tsv"
TODAY = date(2026, 12, 6)


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def read_heldout(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        intent, _, text = line.partition("\t")
        if text.strip():
            rows.append((intent.strip(), text.strip()))
    return rows


def read_lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines()
            if s.strip() and not s.lstrip().startswith("#")]


def label_of(prediction, none_label: str = "none") -> str:
    """The intent the bench scores: the best intent, or ``none`` when the engine is not
    confident and the learned none class is ahead of every intent."""
    if prediction.intent is None:
        return none_label
    return prediction.intent


def report(gold_pred: list[tuple[str, str]], title: str) -> None:
    total = len(gold_pred)
    right = sum(g == p for g, p in gold_pred)
    print(f"\n== {title}: {right}/{total} = {100 * right / max(total, 1):.1f} %")
    per = defaultdict(lambda: [0, 0])
    for g, p in gold_pred:
        per[g][1] += 1
        per[g][0] += g == p
    worst = []
    for intent in sorted(per):
        ok, n = per[intent]
        worst.append(ok / n)
        print(f"  {intent:18s} {ok:4d}/{n:<4d} {100 * ok / n:6.1f} %")
    print(f"  lowest per intent: {100 * min(worst):.1f} %")
    cells = Counter((g, p) for g, p in gold_pred if g != p)
    if cells:
        print("  confusion (gold -> predicted: count), off the diagonal:")
        for (g, p), n in cells.most_common():
            print(f"    {g} -> {p}: {n}")


def timing(model, texts: list[str], rounds: int) -> tuple[float, float, float, float]:
    """(median, p99) wall-clock ms per message, then (median, p99) of this thread's CPU time
    (what one message costs when other processes compete for the cores)."""
    from models.intents import predict

    wall, cpu = [], []
    for _ in range(rounds):
        for text in texts:
            started, c0 = time.perf_counter(), time.thread_time()
            predict(model, text, today=TODAY)
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
    wall.sort()
    cpu.sort()
    p99 = min(len(wall) - 1, int(len(wall) * 0.99))
    return statistics.median(wall), wall[p99], statistics.median(cpu), cpu[p99]


def held_out(rounds: int) -> None:
    import models  # noqa: F401  (what a worker has loaded before the first message)
    from models import intents

    before = rss_mb()
    started = time.perf_counter()
    model = intents.build_model()
    build = time.perf_counter() - started
    after = rss_mb()
    print(f"model: {model.examples} examples, {len(model.vocab)} features; "
          f"build {build:.2f} s (first, with imports), memory added {after - before:.1f} MB")
    started, cpu = time.perf_counter(), time.process_time()
    intents.build_model()
    print(f"rebuild (imports done): {time.perf_counter() - started:.2f} s "
          f"({time.process_time() - cpu:.2f} s CPU)")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        intents.save_cached(model, Path(folder), [])
        started = time.perf_counter()
        intents.load_cached(Path(folder), [])
        print(f"load from the instance cache (next process start): {time.perf_counter() - started:.3f} s")
    with open("/proc/loadavg") as fh:
        print(f"load average while measuring: {fh.read().split()[0]} (this machine has {os.cpu_count()} cores)")
    if not HELDOUT.exists():
        print(f"no {HELDOUT.relative_to(ROOT)} yet")
        return
    rows = read_heldout(HELDOUT)
    preds = [(g, intents.predict(model, t, today=TODAY)) for g, t in rows]
    report([(g, label_of(p)) for g, p in preds], f"held-out accuracy ({HELDOUT.name})")
    confident = sum(p.intent == g and p.confident for g, p in preds)
    print(f"  answered without asking and right: {confident}/{len(preds)}")
    danger = [(t, p) for (g, t), (_, p) in zip(rows, preds) if g == "danger"]
    caught = sum(p.alarming for _, p in danger)
    print(f"\ndanger recall at {intents.DANGER_THRESHOLD}: {caught}/{len(danger)}")
    for t, p in danger:
        if not p.alarming:
            print(f"  missed ({p.danger:.3f}): {t}")
    if BENIGN.exists():
        benign = read_lines(BENIGN)
        alarms = [(t, intents.predict(model, t, today=TODAY).danger) for t in benign]
        bad = [(t, d) for t, d in alarms if d >= intents.DANGER_THRESHOLD]
        print(f"false alarms on {BENIGN.name}: {len(bad)}/{len(benign)}")
        for t, d in bad:
            print(f"  alarm ({d:.3f}): {t}")
    texts = [t for _, t in rows] + (read_lines(BENIGN) if BENIGN.exists() else [])
    median, p99, cpu_median, cpu_p99 = timing(model, texts, rounds)
    print(f"\nclassification per message: median {median:.3f} ms, p99 {p99:.3f} ms wall clock; "
          f"CPU {cpu_median:.3f} / {cpu_p99:.3f} ms ({len(texts) * rounds} calls)")
    unseen = [(g, t) for g, t in rows if intents.prepare(t) not in
              {intents.prepare(x) for x, _ in intents.shipped_examples()}]
    right = sum(intents.predict(model, t, today=TODAY).intent == g for g, t in unseen)
    print(f"held-out lines that equal no training phrasing: {right}/{len(unseen)} right")


def dev(folds: int = 5) -> None:
    """Cross-validation on the shipped phrasings (stratified folds, fixed seed)."""
    import random

    from models import intents

    rows = list(intents.shipped_examples())
    by_intent = defaultdict(list)
    for text, intent in rows:
        by_intent[intent].append(text)
    rnd = random.Random(14)
    fold_of = {}
    for intent, texts in by_intent.items():
        order = list(range(len(texts)))
        rnd.shuffle(order)
        for k, i in enumerate(order):
            fold_of[(intent, texts[i], i)] = k % folds
    keyed = [(t, i, idx) for i, ts in by_intent.items() for idx, t in enumerate(ts)]
    gold_pred, danger_p, benign_p = [], [], []
    for k in range(folds):
        train = [(t, i) for t, i, idx in keyed if fold_of[(i, t, idx)] != k]
        test = [(t, i) for t, i, idx in keyed if fold_of[(i, t, idx)] == k]
        model = intents.build_model(examples=train)
        for text, gold in test:
            p = intents.predict(model, text, today=TODAY)
            top = max(range(len(model.labels)), key=lambda j: model.proba(intents.prepare(text))[j])
            gold_pred.append((gold, model.labels[top]))
            if gold == "danger":
                danger_p.append((p.danger, ("[list] " if "#dw" in intents._markers(intents.prepare(text)) else "") + text))
            elif gold == "none":
                benign_p.append((p.danger, text))
    report(gold_pred, f"{folds}-fold cross-validation on the shipped phrasings (argmax incl. none)")
    danger_p.sort()
    benign_p.sort(reverse=True)
    print("\nlowest danger probabilities of danger phrasings:")
    for d, t in danger_p[:25]:
        print(f"  {d:.3f} {t}")
    print("highest danger probabilities of none.txt phrasings:")
    for d, t in benign_p[:25]:
        print(f"  {d:.3f} {t}")
    th = intents.DANGER_THRESHOLD
    print(f"at DANGER_THRESHOLD {th}: recall {sum(d >= th for d, _ in danger_p)}/{len(danger_p)}, "
          f"alarms on none {sum(d >= th for d, _ in benign_p)}/{len(benign_p)}")
    # The dev split that chose DANGER_THRESHOLD: written apart from the training phrasings.
    model = intents.build_model()
    rows = read_heldout(DEV)
    scored = [(g, intents.predict(model, t, today=TODAY).danger, t) for g, t in rows]
    danger = sorted((d, t) for g, d, t in scored if g == "danger")
    benign = sorted(((d, t) for g, d, t in scored if g != "danger"), reverse=True)
    print(f"\n== dev split {DEV.name}: {len(danger)} danger, {len(benign)} harmless")
    print("  lowest danger: " + "; ".join(f"{d:.3f} {t}" for d, t in danger[:5]))
    print("  highest harmless: " + "; ".join(f"{d:.3f} {t}" for d, t in benign[:5]))
    print(f"  at {th}: recall {sum(d >= th for d, _ in danger)}/{len(danger)}, "
          f"false alarms {sum(d >= th for d, _ in benign)}/{len(benign)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="cross-validate on the shipped phrasings")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over the held-out texts")
    args = parser.parse_args()
    if args.dev:
        dev()
    else:
        held_out(args.rounds)


if __name__ == "__main__":
    main()

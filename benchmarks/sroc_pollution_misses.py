"""Summarise a sroc_pollution_study.py JSONL: precision / recall per strategy, and, per strategy, the
healthy images flagged and the polluted images missed in most replicates (with their scores and ranks).

    python benchmarks/sroc_pollution_misses.py docs/benchmarks/kolektorsdd-pollution/study.jsonl
"""
import collections
import json
import sys

import numpy as np

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
by_strategy: dict[str, list[dict]] = collections.defaultdict(list)
for row in rows:
    by_strategy[row["strategy"]].append(row)
print("| strategy | replicates | precision = recall (mean) | per replicate | seconds (mean) |")
print("|---|---|---|---|---|")
for strategy, group in by_strategy.items():
    values = [r["precision"] for r in group]
    print(f"| {strategy} | {len(group)} | {np.mean(values):.3f} | {', '.join(f'{v:.3f}' for v in values)} | "
          f"{np.mean([r['seconds'] for r in group]):.0f} |")
for strategy, group in by_strategy.items():
    false_flags: dict[str, list] = collections.defaultdict(list)
    missed: dict[str, list] = collections.defaultdict(list)
    for row in group:
        scores, truth = np.array(row["scores"]), np.array(row["is_polluted"], bool)
        ranks = np.empty(len(scores), int)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
        k = int(truth.sum())
        for i, name in enumerate(row["names"]):
            if ranks[i] < k and not truth[i]:
                false_flags[name].append((round(float(scores[i]), 1), int(ranks[i])))
            if ranks[i] >= k and truth[i]:
                missed[name].append((round(float(scores[i]), 1), int(ranks[i])))
    print(f"\n{strategy}: healthy images flagged in >= 2 of {len(group)} replicates (score, rank 0 = first):")
    for name, hits in sorted(false_flags.items(), key=lambda kv: (-len(kv[1]), kv[1][0][1])):
        if len(hits) >= 2:
            print(f"  {name}: {hits}")
    print(f"{strategy}: polluted images missed (score, rank; the cut is rank {k}):")
    for name, hits in sorted(missed.items(), key=lambda kv: kv[1][0][1]):
        print(f"  {name}: {hits}")

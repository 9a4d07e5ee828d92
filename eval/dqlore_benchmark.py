"""DQ-LoRe vs random exemplars: few-shot CoT accuracy of a small LLM on held-back problems of the shipped pool.

Every ``--every``-th exemplar of rerankit's arithmetic pool is held back as a test question; the rest is the
exemplar pool. For each test question the LLM answers greedily with ``--k`` exemplars chosen (a) uniformly at
random (seeded) from the pool, (b) by plain second-query retrieval (question + the LLM's first CoT, no LoRe) and
(c) by DQ-LoRe; an answer is correct when its final number equals the reference answer. Appends a JSON line to
``--out`` and prints a Markdown table, whatever the numbers show.

    python eval/dqlore_benchmark.py --model qwen2.5-coder-0.5b-instruct --encoder all-MiniLM-L6-v2 --every 8 -k 3
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from rerankit.engines import GenerationParams, get_engine
from rerankit.rerankers.dqlore import DQLoReSelector, extract_answer, load_exemplars


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--every", type=int, default=8, help="hold back every N-th exemplar as a test question")
    ap.add_argument("-k", type=int, default=3, help="exemplars per prompt")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N held-back questions (0: all)")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--lore", default="reference", choices=["reference", "pca"],
                    help="LoRe: the reference's PCA_svd (default) or the textbook projection")
    ap.add_argument("--n-components", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="eval/results/dqlore.jsonl")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    pool = load_exemplars()
    held = pool[::args.every]
    train = [e for e in pool if e not in held]
    if args.limit:
        held = held[:args.limit]
    engine = get_engine("transformers", args.model, batch_size=8)
    t0 = time.perf_counter()
    lore = DQLoReSelector(engine=engine, encoder=args.encoder, pool=train, k=args.k, max_tokens=args.max_tokens,
                          lore=args.lore, n_components=args.n_components)
    questions = [e.question for e in held]
    sel = lore.select_many(questions)  # first query (CoT) + retrieval + LoRe
    lore.low_rank = False
    plain = lore.select_many(questions, [s.reasoning for s in sel])  # same CoTs, no LoRe
    rng = random.Random(args.seed)
    rand_prompts = [lore.few_shot_prompt(q, rng.sample(train, args.k)) for q in questions]
    params = GenerationParams(max_tokens=args.max_tokens, temperature=0.0, stop=lore.params.stop)
    answers = {}
    for name, prompts in (("random", rand_prompts), ("retrieval (question + CoT)", [s.prompt for s in plain]),
                          ("DQ-LoRe", [s.prompt for s in sel])):
        gens = engine.generate(prompts, params)
        answers[name] = [extract_answer(g.text) for g in gens]
    dt = time.perf_counter() - t0
    first_cot = sum(extract_answer(s.reasoning) == e.answer for s, e in zip(sel, held)) / len(held)
    row = {"model": args.model, "encoder": args.encoder, "k": args.k, "lore": args.lore,
           "n_components": args.n_components, "test_questions": len(held),
           "pool": len(train), "first_cot_accuracy": first_cot, "seconds": dt,
           "accuracy": {n: sum(a == e.answer for a, e in zip(v, held)) / len(held) for n, v in answers.items()},
           "changed_by_lore": sum([x.id for x in a.exemplars] != [x.id for x in b.exemplars]
                                  for a, b in zip(sel, plain))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{len(held)} held-back questions, pool {len(train)}, k={args.k}, model {args.model}, "
          f"encoder {args.encoder}; LoRe changed the selection for {row['changed_by_lore']} of them")
    print("| exemplars | accuracy |")
    print("|---|---|")
    print(f"| (first-query CoT, {args.k} question-nearest exemplars) | {first_cot:.3f} |")
    for n, acc in row["accuracy"].items():
        print(f"| {n} | {acc:.3f} |")
    print(f"total time {dt:.0f} s")


if __name__ == "__main__":
    main()

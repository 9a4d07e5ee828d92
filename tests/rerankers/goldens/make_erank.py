"""ERank prompt golden, generated once from the model card's reference code text.

No snapshot of the ERank model repositories can be fetched here, so the reference's ``prompt_template`` is written
below exactly as it reads in huggingface.co/Alibaba-NLP/ERank-14B/blob/main/examples/utils.py @ c2e0fef (found with
the search tool, docs corpus; the same text is Figure 5 of arXiv:2509.00520), and formatted the way the card's
examples/ERank_Transformer.py calls it: ``prompt_template.format(query=..., doc=..., instruction=...)`` as the one
user message of a chat, rendered with the tokenizer's chat template and ``add_generation_prompt=True``. This file is
independent of rerankit's prompts/erank.yaml, which the test compares against it. To regenerate:

    python tests/rerankers/goldens/make_erank.py --data-dir ../shared/data \\
        --tokenizer $RERANKIT_MODELS/qwen2.5-coder-0.5b-instruct

Read by tests/rerankers/test_erank.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "erank.json"
SOURCE = ("huggingface.co/Alibaba-NLP/ERank-14B examples/utils.py prompt_template @ c2e0fef, called as in "
          "examples/ERank_Transformer.py")

# the reference's text, line by line as in examples/utils.py
prompt_template = """Given a query and a document, please give a relevance score of 0~10.
The goal or relevance definition is: {instruction}

Here is the query:
{query}

Here is the document:
{doc}

After thinking, directly choose a relevance score from [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].
- 0 represents completely not related
- 10 means perfectly related.

Desired output format:
<think>put your thinking here</think><answer>Only allows an integer here</answer>

Your output:"""

INSTRUCTIONS = ["Given a web search query, retrieve relevant passages that answer the query",
                "Retrieve the passages that help answer a medical question; a passage on a related drug counts"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from rerankit.data import load_dataset

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    cases = []
    for ranking, instruction in zip(list(ds.candidates("bm25").values())[:2], INSTRUCTIONS):
        for hit in ranking.hits[:2]:
            messages = [{"role": "user", "content": prompt_template.format(
                query=ranking.query.text, doc=hit.doc.full_text, instruction=instruction)}]
            cases.append({"query": ranking.query.text, "doc": hit.doc.full_text, "instruction": instruction,
                          "messages": messages,
                          "rendered": tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)})
    args.out.write_text(json.dumps({"generated_by": "tests/rerankers/goldens/make_erank.py", "reference": SOURCE,
                                    "tokenizer": Path(args.tokenizer).name, "cases": cases},
                                   indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

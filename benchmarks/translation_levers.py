"""What each CTranslate2 lever does to translation's cost: CPU seconds per CMRC paragraph, one thread.

    python benchmarks/translation_levers.py [--paragraphs 20] [--only NAME ...]

Each lever runs in a fresh process (CTranslate2 reads its environment once):
the first ``--paragraphs`` CMRC dev documents translated in one call, on one
thread (``inter_threads=1, intra_threads=1``), after a warm-up. The CPU time is
the work itself, which the other sessions on a shared machine do not move
much; two free cores then translate at most 2 / (CPU s per paragraph)
paragraphs a second. ``encoder only`` stops decoding after two steps: the
share of the cost that is reading the Chinese, the rest is writing English.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
LEVERS: dict[str, dict[str, str]] = {
    "qa's (int8, greedy, English vocabulary map, batches of 32 by length)": {},
    "AVX-512 forced (CTranslate2 picks AVX2 on AMD)": {"CT2_FORCE_CPU_ISA": "AVX512"},
    "experimental packed GEMM": {"CT2_USE_EXPERIMENTAL_PACKED_GEMM": "1"},
    "batches of 64": {"LEVER_BATCH": "64"},
    "batches of 128": {"LEVER_BATCH": "128"},
    "no vocabulary map": {"LEVER_VMAP": "0"},
    "float32": {"LEVER_COMPUTE": "float32"},
    "encoder only (2 decoding steps)": {"LEVER_STEPS": "2"},
    # Intel MKL on this AMD CPU: about 14x the CPU time (7 s a paragraph); left out of the default run.
    "MKL": {"CT2_USE_MKL": "1"},
}
DEFAULT = [name for name in LEVERS if name != "MKL"]


def one(n: int) -> dict[str, object]:
    import ctranslate2
    from bench_translation import paragraphs

    from qa.config import Settings
    from qa.translate import model, provision

    folder = provision.materialize(Settings().model_cache)
    translator = ctranslate2.Translator(
        str(folder / "model"), device="cpu", compute_type=os.environ.get("LEVER_COMPUTE", "int8"), intra_threads=1
    )
    pieces = model.Translator(folder, model.Threads(1, 1))._pieces
    texts = paragraphs(n)
    tokens = [model._cap(pieces.encode(s, out_type=str)) for t in texts for s in model._sentences(t)]
    tokens.sort(key=len)
    options = {
        "beam_size": 1,
        "max_batch_size": int(os.environ.get("LEVER_BATCH", "32")),
        "max_decoding_length": int(os.environ.get("LEVER_STEPS", str(2 * model.MAX_PIECES))),
        "use_vmap": os.environ.get("LEVER_VMAP", "1") == "1",
    }
    translator.translate_batch(tokens[:16], **options)  # warm-up
    cpu = time.process_time()
    results = translator.translate_batch(tokens, **options)
    cpu = time.process_time() - cpu
    out_pieces = sum(len(r.hypotheses[0]) for r in results)
    return {"cpu_s_per_paragraph": round(cpu / n, 3), "pieces_in": sum(map(len, tokens)), "pieces_out": out_pieces}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paragraphs", type=int, default=20)
    ap.add_argument("--only", nargs="*", choices=list(LEVERS))
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.paragraphs)))
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("| lever | CPU s per paragraph | pieces in / out |")
    print("|---|---|---|")
    for name in args.only or DEFAULT:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", **LEVERS[name]}
        cmd = [sys.executable, __file__, "--one", "--paragraphs", str(args.paragraphs)]
        r = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)
        print(f"| {name} | {r['cpu_s_per_paragraph']} | {r['pieces_in']} / {r['pieces_out']} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

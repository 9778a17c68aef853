"""Turn the bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The result is an ordinary model folder (BERT config, fp32 safetensors, a fast
tokenizer, mean pooling, normalization, the e5 prompts), so everything else in
qa loads it with plain ``SentenceTransformer(path)`` and never needs to know
where the weights came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.encoder.bundled import charsmap, e5bin

if TYPE_CHECKING:  # imported where it runs: only a conversion needs tokenizers
    from tokenizers import Tokenizer

QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

# Bundled tensor name -> BERT parameter name, per layer ({l} is the layer).
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def _bert_name(name: str) -> str:
    if name in _EMB_NAMES:
        return _EMB_NAMES[name]
    layer, part, kind = name.split(".")
    suffix = "weight" if kind == "w" else "bias"
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[part]}.{suffix}"


def _shape(name: str, size: int, h: e5bin.Header) -> tuple[int, ...]:
    """Row-major shape of a bundled tensor: matrices are [out, in], like torch's Linear."""
    rows = {"emb.word": h.vocab, "emb.pos": h.max_positions, "emb.type": h.type_vocab}
    if name in rows:
        return (rows[name], size // rows[name])
    if name.endswith(".w") and not name.endswith("ln.w"):
        out = h.ffn if ".fi." in name else h.hidden
        return (out, size // out)
    return (size,)


def weights(model: e5bin.BundledModel) -> dict[str, np.ndarray]:
    h = model.header
    out = {}
    for name in model.tensor_names():
        flat = model.tensor(name)
        out[_bert_name(name)] = flat.reshape(_shape(name, flat.size, h))
    # BertModel carries a pooler that sentence-transformers never uses; zeros
    # keep transformers from warning about "newly initialized" weights.
    out["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), np.float32)
    out["pooler.dense.bias"] = np.zeros((h.hidden,), np.float32)
    return out


def bert_config(model: e5bin.BundledModel) -> dict[str, Any]:
    h = model.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": model.pad,
        "bos_token_id": model.bos,
        "eos_token_id": model.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def tokenizer(model: e5bin.BundledModel) -> Tokenizer:
    """A fast tokenizer that reproduces the engine's pipeline step by step."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(model.pieces, model.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(charsmap.build(model.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # split=False: the engine runs one Viterbi pass over the whole string. The
    # Split isolates characters that no piece contains: each is one <unk> in the
    # engine, while tokenizers' Unigram would fuse a run of them into one.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_never_in_a_piece(model.pieces)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    tok.add_special_tokens([AddedToken(t, special=True) for t in _SPECIALS if t in model.pieces])
    return tok


def _never_in_a_piece(pieces: list[str]) -> str:
    """A one-character regex class of every codepoint that appears in no vocabulary piece."""
    ranges: list[list[int]] = []
    for cp in sorted({ord(c) for p in pieces for c in p}):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)
    return f"[^{body}]"


def tokenizer_config(model: e5bin.BundledModel) -> dict[str, Any]:
    # Declaring the generic fast class matters: transformers 5 rebuilds an
    # XLMRobertaTokenizer's normalizer and would drop the bundled map.
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": model.header.max_positions,
        "clean_up_tokenization_spaces": False,
    }


def write_folder(model: e5bin.BundledModel, dest: Path) -> None:
    """Write every file of the sentence-transformers folder into ``dest``."""
    from safetensors.numpy import save_file

    dest.mkdir(parents=True, exist_ok=True)
    hidden = model.header.hidden
    _json(dest / "config.json", bert_config(model))
    save_file(weights(model), str(dest / "model.safetensors"), metadata={"format": "pt"})
    tokenizer(model).save(str(dest / "tokenizer.json"))
    _json(dest / "tokenizer_config.json", tokenizer_config(model))
    _json(dest / "sentence_bert_config.json", {"max_seq_length": model.header.max_positions, "do_lower_case": False})
    _json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _json(
        dest / "1_Pooling" / "config.json",
        {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True, "include_prompt": True},
    )
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _json(
        dest / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": QUERY_PROMPT, "document": PASSAGE_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

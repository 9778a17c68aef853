"""The Milvus backend (QA_BACKEND=milvus): the index as a Milvus collection that several qa processes share.

``client.py`` connects (milvus-lite for a ``.db`` path, a server otherwise) and
turns what Milvus raises into one-line errors naming the setting;
``layout.py`` is the collection's schema and what its entities hold;
``collection.py`` the Milvus calls on one collection, through its alias;
``lease.py`` lets one writer at a time write it, across processes;
``marks.py`` lets a rebuild carry the deletes made while it ran;
``view.py`` answers searches (vectors in Milvus, BM25 in process), an :class:`~qa.index.backend.IndexView`;
``writer.py`` writes there, an :class:`~qa.index.backend.IndexWriter` on the shared
:class:`~qa.index.writer.BaseWriter`.
pymilvus is imported only when this backend is chosen (``qa[milvus]``).
"""

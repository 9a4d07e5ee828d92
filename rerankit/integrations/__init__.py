"""Adapters for RAG frameworks, each an optional extra imported only when used.

- :mod:`rerankit.integrations.langchain`: ``RerankitCompressor`` (a LangChain ``BaseDocumentCompressor``) and
  ``RerankitRetriever`` (a ``BaseRetriever`` over a rerankit pipeline) — ``pip install 'rerankit[langchain]'``.
- :mod:`rerankit.integrations.llamaindex`: ``RerankitNodePostprocessor`` (a LlamaIndex ``BaseNodePostprocessor``)
  — ``pip install 'rerankit[llamaindex]'``.
"""

"""The doctor: why a remote cluster does not work, stage by stage, on Isthmus and on Elasticsearch.

``model`` and ``causes`` are pure data (importable from any layer, the node's live remote health
included); the checkers, the evidence collection and the CLI build on them.
"""

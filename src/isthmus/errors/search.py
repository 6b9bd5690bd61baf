"""Search errors: phases, shard queries, scroll and PIT contexts, and the limits on pattern
and aggregation work.
"""

from __future__ import annotations

from isthmus.errors.base import IsthmusError


class SearchPhaseExecutionError(IsthmusError):
    es_type = "search_phase_execution_exception"
    status = 400

    def root_cause(self) -> IsthmusError:
        # ES reports the shard failures' causes, whatever their kind.
        return self.caused_by.root_cause() if self.caused_by is not None else self


class QueryShardError(IsthmusError):
    es_type = "query_shard_exception"
    status = 400


class SearchContextMissingError(IsthmusError):
    es_type = "search_context_missing_exception"
    status = 404


class TooManyScrollContextsError(IsthmusError):
    es_type = "too_many_scroll_contexts_exception"
    status = 429


class TooManyPitContextsError(IsthmusError):
    """Past ``search.max_open_pit_context`` open point-in-time contexts (a rejected execution)."""

    es_type = "es_rejected_execution_exception"
    status = 429
    java_class = "org.elasticsearch.common.util.concurrent.EsRejectedExecutionException"


class TooComplexToDeterminizeError(IsthmusError):
    """A regexp or wildcard whose automaton would take more than ``max_determinized_states`` work
    to determinize (Lucene's exception; ES reports it beneath ``failed to create query``)."""

    es_type = "too_complex_to_determinize_exception"
    status = 400
    is_es = False
    java_class = "org.apache.lucene.util.automaton.TooComplexToDeterminizeException"


class SearchContextError(IsthmusError):
    """ES's ``SearchException``: a shard cannot set up the search as asked (``collapse`` with a
    scroll or a rescore); ES answers 500 for it."""

    es_type = "search_exception"
    status = 500
    java_class = "org.elasticsearch.search.SearchException"


class TooManyBucketsError(IsthmusError):
    """An aggregation asked for more buckets than ``search.max_buckets`` (ES 8: 400)."""

    es_type = "too_many_buckets_exception"
    status = 400
    java_class = (
        "org.elasticsearch.search.aggregations.MultiBucketConsumerService$TooManyBucketsException"
    )

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Trying to create too many buckets. Must be less than or equal to: [{limit}] but "
            "this number of buckets was exceeded. This limit can be set by changing the "
            "[search.max_buckets] cluster level setting.",
            extra={"max_buckets": limit},
        )
        self.max_buckets = limit

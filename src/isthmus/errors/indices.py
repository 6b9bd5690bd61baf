"""Errors about indices and documents: missing or existing indices, names, aliases, closed
indices, mapping and document parsing, versions, blocks, routing, index templates and data
streams.
"""

from __future__ import annotations

from isthmus.errors.base import IsthmusError


class IndexNotFoundError(IsthmusError):
    es_type = "index_not_found_exception"
    status = 404

    def __init__(self, index: str) -> None:
        super().__init__(
            f"no such index [{index}]",
            extra={
                "resource.type": "index_or_alias",
                "resource.id": index,
                "index_uuid": "_na_",
                "index": index,
            },
        )


class ResourceAlreadyExistsError(IsthmusError):
    es_type = "resource_already_exists_exception"
    status = 400

    def __init__(self, index: str, uuid: str) -> None:
        super().__init__(
            f"index [{index}/{uuid}] already exists",
            extra={"index_uuid": uuid, "index": index},
        )


class InvalidIndexNameError(IsthmusError):
    es_type = "invalid_index_name_exception"
    status = 400

    def __init__(self, index: str, why: str) -> None:
        super().__init__(
            f"Invalid index name [{index}], {why}",
            extra={"index_uuid": "_na_", "index": index},
        )


class InvalidAliasNameError(IsthmusError):
    es_type = "invalid_alias_name_exception"
    status = 400


class AliasesNotFoundError(IsthmusError):
    es_type = "aliases_not_found_exception"
    status = 404


class IndexClosedError(IsthmusError):
    es_type = "index_closed_exception"
    status = 400

    def __init__(self, index: str, uuid: str) -> None:
        super().__init__("closed", extra={"index_uuid": uuid, "index": index})


class MapperParsingError(IsthmusError):
    es_type = "mapper_parsing_exception"
    status = 400


class DocumentParsingError(MapperParsingError):
    """A document that does not fit its mapping (ES 8.8+ reports these as their own type)."""

    es_type = "document_parsing_exception"
    status = 400
    field: str | None = None  # the field that failed, so the caller can say where it stands


class StrictDynamicMappingError(IsthmusError):
    es_type = "strict_dynamic_mapping_exception"
    status = 400


class VersionConflictError(IsthmusError):
    es_type = "version_conflict_engine_exception"
    status = 409


class DocumentMissingError(IsthmusError):
    es_type = "document_missing_exception"
    status = 404


class ClusterBlockError(IsthmusError):
    es_type = "cluster_block_exception"
    status = 403


# --- index templates ----------------------------------------------------------------------------


class InvalidIndexTemplateError(IsthmusError):
    """ES's ``InvalidIndexTemplateException``: a template that cannot be put as written."""

    es_type = "invalid_index_template_exception"
    status = 400
    java_class = "org.elasticsearch.indices.InvalidIndexTemplateException"

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"index_template [{name}] invalid, cause [{why}]")


class IndexTemplateMissingError(IsthmusError):
    """ES's ``IndexTemplateMissingException``: deleting a template that does not exist."""

    es_type = "index_template_missing_exception"
    status = 404
    java_class = "org.elasticsearch.indices.IndexTemplateMissingException"

    def __init__(self, name: str) -> None:
        super().__init__(f"index_template [{name}] missing")


class DataStreamAlreadyExistsError(ResourceAlreadyExistsError):
    """Creating a data stream whose name one already has (ES names no uuid for it)."""

    def __init__(self, name: str) -> None:
        IsthmusError.__init__(self, f"data_stream [{name}] already exists")


class RoutingMissingError(IsthmusError):
    """ES's ``RoutingMissingException``: a write (or get) without routing on an index whose
    mapping has ``_routing: {"required": true}``."""

    es_type = "routing_missing_exception"
    status = 400

    def __init__(self, index: str, doc_id: str | None) -> None:
        super().__init__(
            f"routing is required for [{index}]/[{doc_id}]",
            extra={"index_uuid": "_na_", "index": index},
        )

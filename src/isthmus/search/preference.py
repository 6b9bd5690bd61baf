"""The ``preference`` parameter of searches, counts and point-in-time opens.  [no I/O]

ES's ``OperationRouting.preferenceActiveShardIterator`` picks, for each shard of the targeted
indices, which copies may answer (or none):

* ``_shards:<ids>`` keeps only the shards whose numbers are listed (``_shards:0,2``), optionally
  followed by ``|`` and another preference for the copies (``_shards:0|_local``);
* ``_local``, ``_only_local``/``_onlyLocal``, ``_prefer_nodes:<ids>``, ``_only_nodes:<spec>``
  choose copies by node; this node holds every shard copy, so they keep every shard
  (``_only_nodes`` naming no node of this cluster is not refused here, where ES says "no data
  nodes with criteria [...] found for shard");
* any other string not starting with ``_`` is a custom value (a session id, say) that makes the
  choice of copies repeatable: every shard is kept;
* an unknown ``_`` type is refused: "no Preference for [_x]"; a shard number that is not an
  integer is Java's ``NumberFormatException`` ('For input string: "x"').
"""

from __future__ import annotations

from isthmus.errors import IllegalArgumentError, NumberFormatError

_TYPES = {
    "_shards": "SHARDS",
    "_prefer_nodes": "PREFER_NODES",
    "_local": "LOCAL",
    "_only_local": "ONLY_LOCAL",
    "_onlyLocal": "ONLY_LOCAL",
    "_only_nodes": "ONLY_NODES",
}


def _type(preference: str) -> str:
    """ES's ``Preference.parse``: the enum name of the text before the first ``:``."""
    name = preference.split(":", 1)[0]
    found = _TYPES.get(name)
    if found is None:
        raise IllegalArgumentError(f"no Preference for [{name}]")
    return found


def _shard_number(text: str) -> int:
    # Java's Integer.parseInt: an optional sign and ASCII digits, nothing else (no spaces).
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise NumberFormatError(f'For input string: "{text}"')
    return int(text)


def selects_shard(preference: str | None, shard: int) -> bool:
    """Whether ``preference`` lets shard number ``shard`` answer (ES's errors for a bad one)."""
    if not preference or not preference.startswith("_"):
        return True
    kind = _type(preference)
    if kind == "SHARDS":
        bar = preference.find("|")
        listed = preference[len("_shards") + 1 : None if bar == -1 else bar]
        # Strings.splitStringByCommaToArray drops empty pieces; ES parses the numbers in order
        # until one is the shard's (a bad number after it goes unread).
        if not any(_shard_number(part) == shard for part in listed.split(",") if part):
            return False
        rest = "" if bar == -1 else preference[bar + 1 :]
        if rest.startswith("_") and _type(rest) == "SHARDS":
            raise IllegalArgumentError("unknown preference [SHARDS]")
    return True


__all__ = ["selects_shard"]

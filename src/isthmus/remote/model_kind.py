"""The two security models of a remote cluster alias, as a value.  [no I/O]

Pure data, so that code which only names a model (the doctor's fix texts, the lab's scenarios)
need not load the connectors and TLS of :mod:`isthmus.remote.security_model`, which decides an
alias's model and builds its connections.
"""

from __future__ import annotations

import enum


class SecurityModel(enum.StrEnum):
    CERTIFICATE = "certificate"
    API_KEY = "api_key"

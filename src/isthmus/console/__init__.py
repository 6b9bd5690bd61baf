"""The web console: a page served by the node under ``/_isthmus/console/`` (issue 21).

What it owns: the page and its static assets (package data, no build step, no external request:
the page's Content-Security-Policy allows only the node itself), and the few JSON endpoints the
page needs beyond Elasticsearch's own APIs, under ``/_isthmus/console/api/``:

* ``remotes``: one row per alias from the node's live remote health, joined with the alias's
  settings and its last hour of events (:mod:`isthmus.console.remotes`);
* ``diagnose/{alias}``: the doctor's verdict, run in this process against this node's own REST
  app with the caller's credentials (:mod:`isthmus.console.diagnose`);
* ``privileges/{alias}``: a user's effective privileges on ``alias:index``, the local role's
  side read, the remote side (key or remote role) tried (:mod:`isthmus.console.privileges`);
* ``probe``: the add/edit wizard's check of an address before anything is saved, with the
  doctor's probes and the node's own client TLS (:mod:`isthmus.console.wizard`).

Everything else the page does goes through Elasticsearch's APIs as the signed-in user
(``PUT _cluster/settings`` to save a remote, ``_ccr/stats`` and pause/resume for followers), so
the page can do exactly what the user's privileges allow. Every route is behind the node's guard
like any other; nothing here runs unless a page asks (no background work: idle CPU unchanged).
The console is a tool (it runs the doctor): the composition root is handed its routes by the
``isthmus node`` command, never imports it.
"""

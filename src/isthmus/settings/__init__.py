"""Settings: the only place raw setting keys are read.

``registry`` says what a setting is (scope, dynamic or not, parser, default) and declares the core
ones; each feature's settings module declares its own, and ``catalog`` gathers every declaration
into the node's registry (nothing registers itself on import); ``loader`` reads
``isthmus.yml`` and ``-E`` overrides into a validated flat map; ``node`` turns that map into the
frozen :class:`NodeSettings` the rest of the node uses.
"""

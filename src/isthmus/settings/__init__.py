"""Settings: the only place raw setting keys are read.

``registry`` declares every setting (scope, dynamic or not, parser, default); ``loader`` reads
``isthmus.yml`` and ``-E`` overrides into a validated flat map; ``node`` turns that map into the
frozen :class:`NodeSettings` the rest of the node uses.
"""

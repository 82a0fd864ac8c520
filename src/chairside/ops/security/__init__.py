"""Security audit and breach containment: the runbooks' "Security Operations" made executable.

``audit`` checks configuration, file permissions, network exposure, TLS certificates,
installed dependencies and compliance facts, each as :class:`~chairside.checks.CheckResult`.
``sessions`` and ``secret`` contain a breach: log every account out, rotate the signing secret.
"""

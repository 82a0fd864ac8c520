"""``python -m chairside``: the same CLI as the ``chairside`` console script.

The ops scheduler starts jobs this way, with the very Python it runs under.
"""

from chairside.cli.main import main

main()

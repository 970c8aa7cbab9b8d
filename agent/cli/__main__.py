"""`python -m agent.cli`: the callplan command without its console script (the unit files may use
it)."""

from agent.cli.main import main

main()

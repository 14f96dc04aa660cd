"""``python -m hub_client listen …`` (see ``hub_client.cli``)."""

from hub_client.cli import main

main()

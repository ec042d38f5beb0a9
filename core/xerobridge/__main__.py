"""`python -m xerobridge`: the same as the `xerobridge` command."""

from xerobridge.cli.main import main

main()

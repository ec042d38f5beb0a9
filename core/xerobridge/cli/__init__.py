"""The `xerobridge` command line."""

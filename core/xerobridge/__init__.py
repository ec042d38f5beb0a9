"""xerobridge: keep a business's other systems and its Xero organisation in sync."""

from xerobridge.contract.hookspecs import hookimpl

__all__ = ["hookimpl"]

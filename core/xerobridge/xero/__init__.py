"""Xero: the client for the Xero Accounting API and a stateful sandbox of it."""

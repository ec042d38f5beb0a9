"""Configured Xero connections and sources, their settings and the accounts they need."""

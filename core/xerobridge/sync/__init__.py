"""The sync engine: reading sources, the exactly-once push to Xero, and Xero back to sources."""

"""xerobridge source plugin for a CloudBlue Commerce reseller marketplace (SimpleAPI)."""

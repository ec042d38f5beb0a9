"""xerobridge source plugin for the Alternative Payments platform."""

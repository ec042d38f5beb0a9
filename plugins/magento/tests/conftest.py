"""Fixtures of the Magento plugin's tests; they live in magento_helpers, imported from there."""

from magento_helpers import *  # noqa: F403  (pytest collects the fixtures from this namespace)

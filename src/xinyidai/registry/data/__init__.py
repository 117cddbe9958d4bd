"""Packaged reference data of the registry: GB/T 4754-2017 industries."""

"""Packaged national code tables the kernel reads: GB/T 2260 divisions."""

"""Shared value types only: USCC, money, clock, ids, base errors."""

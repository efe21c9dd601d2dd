"""Verification: input generation, metrics, compare, bisect and dataset evaluation."""

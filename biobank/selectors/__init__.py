"""Reads of the sample chain: every face asks these instead of building its own queries."""

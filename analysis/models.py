"""Analysis plans and runs live here (see the analysis engine issue)."""

"""Printable labels: barcodes drawn as SVG, with no library and no network."""

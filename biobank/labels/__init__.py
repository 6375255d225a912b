"""Printable labels: barcodes from reportlab (SVG for the pages, PDF for label stocks),
ZPL for Zebra printers; no network."""

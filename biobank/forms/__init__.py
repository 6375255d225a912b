"""Forms of the technicians' pages.

They parse and check what was typed or scanned (formats, required fields, that a
scanned barcode exists) and nothing more: every rule of the sample chain is the
services' to keep. A service's ValidationError is put back on the form field it
names by `add_service_errors`, so the message shows next to the input.
"""

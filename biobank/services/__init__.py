"""Every write to the sample chain goes through these functions.

Views, forms, the admin, the API and the management commands all call them,
so each rule (volumes, positions, windows, ranges, the custody log) holds on
every face. Services take keyword-only arguments, run in one transaction, and
raise django.core.exceptions.ValidationError naming the field that is wrong.
"""

"""`{% plate_imports plate as imports %}`: lets web/_plate_imports.html be included
in any page that has a `plate` (the plate map, the upload page) without that page's
view having to know about imports."""

from django import template

from biobank.selectors.plate_imports import plate_import_history

register = template.Library()


@register.simple_tag
def plate_imports(plate):
    return plate_import_history(plate)

from django.apps import AppConfig


class BiobankConfig(AppConfig):
    """The sample chain: patients, draws, aliquots, storage, processing, plates."""

    name = "biobank"
    verbose_name = "Biobank"

from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """The analysis chain: pure functions over DataFrames, plans and runs."""

    name = "analysis"
    verbose_name = "Analysis"

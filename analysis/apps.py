from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """The analysis chain: pure functions over DataFrames, plans and runs."""

    name = "analysis"
    verbose_name = "Analysis"

    def ready(self):
        # Data changes re-run the plans that read them (after commit, debounced).
        from analysis import triggers

        triggers.connect()

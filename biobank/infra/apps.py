from django.apps import AppConfig


class InfraConfig(AppConfig):
    """Its own app so that its migrations do not interleave with the biobank's."""

    name = "biobank.infra"
    label = "infra"
    verbose_name = "Infrastructure"

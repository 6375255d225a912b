"""factory_boy factories for the sample chain. They build valid rows directly;
tests of the rules call the services instead."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from biobank import models as m


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))
            self.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Patient

    study_id = factory.Sequence(lambda n: f"T-{n:04d}")
    sex = "M"
    age_at_enrolment = 70
    liver_background = m.Patient.LiverBackground.CIRRHOSIS
    etiology = m.Patient.Etiology.HCV
    type2_diabetes = False
    consent_date = dt.date(2010, 1, 1)


class TreatmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Treatment

    patient = factory.SubFactory(PatientFactory)
    performed_on = dt.date(2010, 1, 10)
    anticancer_agent = m.Treatment.Anthracycline.EPIRUBICIN


class SerumDrawFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.SerumDraw

    treatment = factory.SubFactory(TreatmentFactory)
    patient = factory.SelfAttribute("treatment.patient")
    timepoint = m.SerumDraw.Timepoint.PRE
    drawn_at = factory.LazyAttribute(
        lambda o: timezone.make_aware(dt.datetime.combine(o.treatment.performed_on, dt.time(8, 0)))
    )
    centrifuged_at = factory.LazyAttribute(lambda o: o.drawn_at + dt.timedelta(hours=1))
    frozen_at = factory.LazyAttribute(lambda o: o.centrifuged_at + dt.timedelta(minutes=30))
    serum_volume_ul = Decimal("1000")
    days_after_treatment = 0


class FreezerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Freezer
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"ULT-T{n}")


class RackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Rack

    freezer = factory.SubFactory(FreezerFactory)
    name = factory.Sequence(lambda n: f"R{n}")


class BoxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Box

    rack = factory.SubFactory(RackFactory)
    name = factory.Sequence(lambda n: f"Box {n}")
    barcode = factory.Sequence(lambda n: f"BOX-T{n:05d}")
    rows = 9
    columns = 9


class AliquotFactory(factory.django.DjangoModelFactory):
    """A stored aliquot in its own box at A1 unless told otherwise."""

    class Meta:
        model = m.Aliquot

    barcode = factory.Sequence(lambda n: f"AL-T{n:06d}")
    draw = factory.SubFactory(SerumDrawFactory)
    initial_volume_ul = Decimal("250")
    volume_ul = factory.SelfAttribute("initial_volume_ul")
    status = m.Aliquot.Status.STORED
    box = factory.SubFactory(BoxFactory)
    row = 1
    column = 1


class AssayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Assay
        django_get_or_create = ("target",)

    target = "hsa-miR-122-5p"
    vendor_assay_id = "002245"
    role = m.Assay.Role.TARGET


class ExosomeIsolationBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ExosomeIsolationBatch

    code = factory.Sequence(lambda n: f"EXO-T{n:04d}")
    performed_on = dt.date(2014, 1, 1)
    exoquick_lot = "EQ-1"
    spike_in_lot = "CEL39-1"


class ExosomeIsolationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ExosomeIsolation

    batch = factory.SubFactory(ExosomeIsolationBatchFactory)
    aliquot = factory.SubFactory(AliquotFactory)
    serum_volume_ul = Decimal("250")


class RnaIsolationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.RnaIsolation

    isolation = factory.SubFactory(ExosomeIsolationFactory)
    kit_lot = "MV-1"
    performed_on = dt.date(2014, 1, 2)


STUDY_ASSAYS = [
    ("hsa-miR-122-5p", "002245", m.Assay.Role.TARGET),
    ("hsa-miR-21-5p", "000397", m.Assay.Role.TARGET),
    ("cel-miR-39-3p", "000200", m.Assay.Role.SPIKE_IN),
]


def study_assays() -> list[m.Assay]:
    return [
        AssayFactory(target=target, vendor_assay_id=vendor_id, role=role)
        for target, vendor_id, role in STUDY_ASSAYS
    ]


class ReverseTranscriptionFactory(factory.django.DjangoModelFactory):
    """An RT product primed for the study's three assays."""

    class Meta:
        model = m.ReverseTranscription
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"RT-T{n:05d}")
    rna = factory.SubFactory(RnaIsolationFactory)
    kit_lot = "RT-1"
    performed_on = dt.date(2014, 1, 3)

    @factory.post_generation
    def assays(self, create, extracted, **kwargs):
        if create:
            self.assays.set(extracted if extracted is not None else study_assays())

"""Fixtures of the exporter tests: a fresh tiny model and labelled sample per test."""

import pytest

from tests.exporters._models import make_model, make_sample


@pytest.fixture
def model():
    return make_model()


@pytest.fixture
def sample():
    return make_sample()

"""Shared by every tier: a switch that makes a tier fail on purpose, to prove failures are reported and cleaned up."""

import os

import pytest


@pytest.fixture(autouse=True)
def _fail_on_purpose_when_asked():
    if os.environ.get("FORCE_TEST_FAILURE"):
        pytest.fail("FORCE_TEST_FAILURE is set: this tier fails on purpose")

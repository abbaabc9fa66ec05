"""The pin factory is built by the appliance and passed in (adapters.pins), never chosen by
setting GPIOZERO_PIN_FACTORY in the process's environment."""

from __future__ import annotations

import os
from contextlib import closing

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.adapters import pins


def test_a_named_factory_is_built_and_the_environment_is_left_alone(monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    with closing(pins.build_pin_factory("mock")) as factory:
        assert isinstance(factory, MockFactory)
    assert "GPIOZERO_PIN_FACTORY" not in os.environ


def test_empty_honours_gpiozero_pin_factory_as_gpiozero_does(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "Mock")  # gpiozero matches case-insensitively
    with closing(pins.build_pin_factory(None)) as factory:
        assert isinstance(factory, MockFactory)


def test_the_default_order_goes_on_past_a_factory_that_cannot_start(monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(pins, "PREFERENCE", ("nosuchfactory", "mock"))
    with closing(pins.build_pin_factory(None)) as factory:
        assert isinstance(factory, MockFactory)


def test_when_none_starts_every_reason_is_named(monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(pins, "PREFERENCE", ("nosuchfactory", "othermissing"))
    with pytest.raises(pins.NoPinFactory, match=r"^nosuchfactory: not installed \(gpiozero "
                       r"knows .*mock.*\); othermissing: not installed"):
        pins.build_pin_factory(None)

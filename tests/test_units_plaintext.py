"""The units whose processes hold decrypted patient data keep it in memory: no core dumps
(a crash would otherwise write the process's memory to disk) and no swap."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
HOLDS_PLAINTEXT = ["appliance-web.service", "appliance-panel.service", "appliance-jobs.service"]


def service_section(unit: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(SYSTEMD / unit)
    return parser["Service"]


@pytest.mark.parametrize("unit", HOLDS_PLAINTEXT)
def test_no_core_dump_and_no_swap_for_a_process_holding_plaintext(unit):
    service = service_section(unit)
    assert service.get("LimitCORE") == "0"
    assert service.get("MemorySwapMax") == "0"

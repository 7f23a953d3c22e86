"""A real mosquitto broker on a free local port for station tests (the code is in station_helpers)."""
from pathlib import Path

import pytest
from station_helpers import MOSQUITTO, Broker


@pytest.fixture
def broker(tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto not installed")
    instance = Broker(tmp_path)
    instance.start()
    yield instance
    instance.stop()

import sys

import cups


def test_which():
    print(cups.__file__ if hasattr(cups, "__file__") else cups, sys.path[:3])
    assert hasattr(cups, "Connection")

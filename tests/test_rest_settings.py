"""Every class REST_FRAMEWORK names loads in a fresh process, whichever setting is read
first. Django runs system checks in no fixed order, so a worker's `manage.py check` may
read DEFAULT_PAGINATION_CLASS before anything imported rest_framework.views; a module
named in the settings that imports rest_framework.views at load is then a cycle, and the
process dies (CI once lost four cluster tests to it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
IMPORTED = [
    key
    for key, value in settings.REST_FRAMEWORK.items()
    if key.endswith(("_CLASS", "_CLASSES", "_BACKENDS", "_HANDLER"))
]


def test_the_settings_name_classes_to_import():
    assert "DEFAULT_PAGINATION_CLASS" in IMPORTED
    assert "DEFAULT_AUTHENTICATION_CLASSES" in IMPORTED


@pytest.mark.parametrize("key", IMPORTED)
def test_it_loads_when_this_setting_is_read_first(key):
    code = (
        "import django; django.setup()\n"
        "from rest_framework.settings import api_settings\n"
        f"print(repr(getattr(api_settings, {key!r})))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]

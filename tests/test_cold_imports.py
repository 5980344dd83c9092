"""A cold start loads only what a cold APNs push needs: the FCM OAuth stack, the AWS SDK,
the Keyspaces driver and X.509 parsing load on their own paths, when first used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakepns.credentials import TestCredentials

ROOT = Path(__file__).resolve().parent.parent
NEVER_CONTACTED = "https://127.0.0.1:9"  # nothing is sent: only the start is looked at
NOT_ON_THE_COLD_PATH = ("google", "boto3", "cassandra", "httpx", "cryptography.x509")

COLD_START = """
import json, sys
import app
from chalicelib import api
config = api.current_runtime().config.get()
print(json.dumps({"apps": sorted(config.apps), "modules": sorted(sys.modules)}))
"""


def test_import_app_with_apns_apps_only_loads_none_of_the_other_paths(
    tmp_path: Path, creds: TestCredentials
) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "general.ini").write_text("[server]\n[applications]\n")
    (config_dir / "applications.ini").write_text(
        f"""
[sylk-ios]
app_id = com.example.sylk
app_type = sylk
app_platform = apple
apple_push_url = {NEVER_CONTACTED}
apple_certificate = {creds.client_combined}

[linphone-ios]
app_id = com.example.linphone
app_type = linphone
app_platform = apple
apple_push_url = {NEVER_CONTACTED}
apple_key = {creds.apns_p8}
key_id = {creds.apns_key_id}
team_id = {creds.apns_team_id}
"""
    )
    env = {**os.environ, "CONFIG_DIR": str(config_dir), "DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-c", COLD_START]
    run = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.splitlines()[-1])
    assert len(loaded["apps"]) == 2, run.stdout  # the config was really read
    early = [
        module
        for module in loaded["modules"]
        if any(module == name or module.startswith(f"{name}.") for name in NOT_ON_THE_COLD_PATH)
    ]
    assert early == []

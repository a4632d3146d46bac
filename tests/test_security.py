"""Security: the dashboard of a real local study listens on loopback only and wants the token;
no token reaches the study folder; weights load only from safetensors, never from a pickle.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from model.encoder import WEIGHTS, embedded_model_path, load_encoder
from study.cli.parser import build_parser
from study.errors import ModelError
from tests.cli.bad_input_helpers import one_error_line, run_cli
from tests.conftest import PROJECT, read_rows

pytestmark = pytest.mark.local_ray

# ---- a bait pickle: unpickling it (torch.load(weights_only=False)) makes a folder ----


class _Bait:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        return (os.mkdir, (str(self.marker),))


def write_bait(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"embeddings.word_embeddings.weight": _Bait(marker)}))
    return path


def test_the_bait_fires_when_unpickled(tmp_path):
    """So the tests below would notice an unsafe load: plain unpickling runs the payload."""
    marker = tmp_path / "fired"
    pickle.loads(write_bait(tmp_path / "bait.bin", marker).read_bytes())
    assert marker.is_dir()


def model_copy(tmp: Path, with_safetensors: bool) -> Path:
    """The embedded model's files (linked), with or without its safetensors, plus a bait .bin."""
    folder = tmp / "model"
    folder.mkdir()
    for item in embedded_model_path().iterdir():
        if item.name != WEIGHTS or with_safetensors:
            (folder / item.name).symlink_to(item)
    write_bait(folder / "pytorch_model.bin", tmp / "fired")
    return folder


def test_model_folder_with_only_a_pickle_is_refused(tmp_path):
    folder = model_copy(tmp_path, with_safetensors=False)
    line = one_error_line(run_cli("train", "--scale", "smoke", "--model-path", str(folder)))
    assert f"has no {WEIGHTS}; only safetensors weights are loaded" in line
    with pytest.raises(ModelError, match="only safetensors"):
        load_encoder(str(folder))
    assert not (tmp_path / "fired").exists()


def test_encoder_loads_safetensors_and_never_the_pickle_beside_it(tmp_path):
    folder = model_copy(tmp_path, with_safetensors=True)
    encoder = load_encoder(str(folder))
    assert encoder.config.hidden_size == 384
    assert not (tmp_path / "fired").exists()


def test_trial_folder_with_a_pickled_adapter_is_refused(tmp_path):
    """predict loads adapters from adapter_model.safetensors only, never adapter_model.bin."""
    from model.multitask import build_model
    from study.scales import scale_config
    from study.train.checkpoint import save_trial

    config = scale_config("smoke").replace(r=2)
    run_dir = tmp_path / "trial"
    save_trial(build_model(config.model_spec(), load_encoder()), config, run_dir, {})
    adapters = sorted((run_dir / "checkpoint" / "adapters").glob("*/adapter_model.safetensors"))
    assert adapters, "single_task LoRA saves one adapter per task"
    for weights in adapters:
        weights.unlink()
        write_bait(weights.with_name("adapter_model.bin"), tmp_path / "fired")
    line = one_error_line(run_cli("predict", str(run_dir)))
    assert "adapter_model.safetensors is missing" in line
    assert not (tmp_path / "fired").exists()


# ---- the dashboard of a real local study ----


def test_cli_defaults_bind_the_dashboard_to_loopback():
    args = build_parser().parse_args(["run", "smoke"])
    assert args.dashboard_host == "127.0.0.1"
    # the port: 8265 when free, else a free one (tests/tuning/test_two_studies.py)
    assert args.dashboard_port is None


def listening_addresses(port: int) -> set[str]:
    """IPs with a LISTEN socket on `port`, from /proc/net/tcp and tcp6 (no ss, no psutil)."""
    found = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        table = Path("/proc/net") / name
        if not table.is_file():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A = TCP_LISTEN
                continue
            raw = bytes.fromhex(host)  # little-endian 32-bit words
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth_token() -> str:
    """The token Ray uses: $RAY_AUTH_TOKEN, else $RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token"
    return Path(path).read_text().strip()


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


@dataclass
class LiveStudy:
    proc: subprocess.Popen
    out: Path
    log: Path
    port: int
    """The dashboard port the study was asked for."""
    line: str
    """The study's `Ray dashboard: ...` line."""

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _wait_for_dashboard(proc: subprocess.Popen, log: Path, port: int) -> str:
    """The `Ray dashboard:` line, once something listens on `port` (or 30 s after the line)."""
    deadline, line = time.monotonic() + 180, ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.is_file() else ""
        found = re.search(r"^Ray dashboard: .*$", text, re.MULTILINE)
        if found and not line:
            line, deadline = found.group(0), time.monotonic() + 30
        if line and listening_addresses(port):
            return line
        if proc.poll() is not None:
            pytest.fail(f"study exited ({proc.returncode}) before its dashboard:\n{text[-3000:]}")
        time.sleep(0.5)
    text = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"nothing listens on the dashboard port {port} (line: {line!r}):\n{text}")


@pytest.fixture(scope="module")
def live_study(tmp_path_factory):
    """`python -m study run smoke --samples 2` in its own process group, killed at the end."""
    root = tmp_path_factory.mktemp("secure")
    out, log, port = root / "study", root / "stderr.log", free_port()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    for name in ("RAY_AUTH_MODE", "RAY_ADDRESS"):  # Ray's own default: a new local cluster
        env.pop(name, None)
    command = [sys.executable, "-m", "study", "run", "smoke", "--scale", "smoke"]
    # two trials keep the reused worker (and the dashboard) up long enough to be looked at
    command += ["--samples", "2", "--out", str(out), "--dashboard-port", str(port)]
    with open(log, "w") as err:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield LiveStudy(proc, out, log, port, _wait_for_dashboard(proc, log, port))
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                continue


@pytest.mark.slow
def test_dashboard_listens_on_loopback_only(live_study):
    url = f"http://127.0.0.1:{live_study.port}"
    assert live_study.line.startswith(f"Ray dashboard: {url} "), live_study.line
    assert listening_addresses(live_study.port) == {"127.0.0.1"}


@pytest.mark.slow
def test_dashboard_refuses_requests_without_the_token(live_study):
    for path in ("/api/version", "/nodes?view=summary"):
        assert get(live_study.url() + path)[0] in (401, 403), path
        assert get(live_study.url() + path, token="not-the-token")[0] in (401, 403), path


@pytest.mark.slow
def test_dashboard_answers_with_the_token(live_study):
    status, body = get(live_study.url() + "/api/version", token=auth_token())
    assert status == 200 and "ray_version" in json.loads(body)


@pytest.mark.slow
def test_dashboard_names_the_worker_and_its_log_names_the_trial(live_study):
    """Actors page: Repr 'smoke trial worker' (study/tuning/execute.py PeftTrial); the actor's log (its
    Logs tab, through the same token-guarded API) says which trial it runs."""
    names: list[str] = []
    text = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and live_study.proc.poll() is None:
        status, body = get(live_study.url() + "/api/v0/actors?detail=1&limit=100", auth_token())
        if status == 200:
            actors = json.loads(body)["data"]["result"]["result"]
            names = [a.get("repr_name") or "" for a in actors]
            for actor in actors:
                if actor.get("repr_name") != "smoke trial worker":
                    continue
                path = f"/api/v0/logs/file?actor_id={actor['actor_id']}&suffix=out&lines=200"
                status, body = get(live_study.url() + path, auth_token())
                text = body if status == 200 else text
                if re.search(r"trial smoke_\w+ started: \{", text):
                    return
        time.sleep(0.3)
    pytest.fail(f"no actor 'smoke trial worker' whose log names its trial: {names}, {text[-500:]}")


def _group_cmdlines(pgid: int) -> list[str]:
    """The command lines of the live processes in process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getpgid(int(entry.name)) == pgid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue
    return found


@pytest.mark.slow
def test_local_ray_runs_without_a_log_monitor(live_study):
    """The study's own Ray runs raylet and GCS but no log monitor, which would scan the log
    folder 10 times a second beside the trial for nothing (log_to_driver is off; study/tuning/execute.py)."""
    cmdlines = _group_cmdlines(live_study.proc.pid)
    assert any("raylet" in c for c in cmdlines) and any("gcs_server" in c for c in cmdlines)
    assert not [c for c in cmdlines if "log_monitor" in c]


@pytest.mark.slow
def test_study_folder_holds_no_token(live_study):
    assert live_study.proc.wait(timeout=540) == 0, live_study.log.read_text()[-3000:]
    token = auth_token().encode()
    files = [p for p in live_study.out.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"trials.jsonl", "study.json"} <= names
    statuses = [r["status"] for r in read_rows(live_study.out)]
    assert len(statuses) == 2 and "completed" in statuses, statuses
    for path in files:  # every file: rows, study.json, Ray's state, checkpoints, event logs
        data = path.read_bytes()
        assert token not in data, f"auth token written to {path}"
        assert b"RAY_AUTH" not in data, f"Ray auth setting written to {path}"

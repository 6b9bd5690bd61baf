"""The README and the troubleshooting page, walked through as a new user would: in a fresh clone,
the quick start's demo exactly as written, then every lab command of the docs exactly as
written, in a shell where the virtualenv was activated as the README says."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fresh_clone(tmp_path: Path) -> Path:
    """A clone of the committed tree with a virtualenv of its own: Isthmus from the clone, its
    dependencies from this checkout's virtualenv (downloading them again would prove nothing;
    CI's own run of scripts/setup covers the install), and the setup stamp written so that
    ``scripts/setup`` finds it up to date."""
    import hashlib
    import shutil
    import site
    import sys

    clone = tmp_path / "clone"
    if (REPO / ".git").exists():
        subprocess.run(
            ["git", "clone", "--quiet", "--local", "--no-hardlinks", str(REPO), str(clone)],
            check=True,
            timeout=120,
        )
    else:  # a checkout without its history: the files as they are
        shutil.copytree(
            REPO,
            clone,
            ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info", "demo", "lab"),
        )
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Isthmus from the clone's sources, its dependencies from this checkout's virtualenv, and
    # the console script an installation writes.
    (Path(purelib) / "_packages_of_the_checkout.pth").write_text(
        "\n".join([str(clone / "src"), *site.getsitepackages()]) + "\n"
    )
    script = venv / "bin" / "isthmus"
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom isthmus.cli.main import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sys; print(sys.version)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[0]
    digest = hashlib.sha256((clone / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".isthmus-installed").write_text(f"{digest} {version}")
    return clone


def shell_env(clone: Path) -> dict[str, str]:
    """``source .venv/bin/activate``, as the README says."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PYTHONPATH")}
    env["VIRTUAL_ENV"] = str(clone / ".venv")
    env["PATH"] = f"{clone / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    return env


def code_block_after(text: str, marker: str) -> list[str]:
    """The commands of the first ``sh`` block after ``marker``, comments stripped."""
    start = text.index(marker)
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block is not None, marker
    lines = (line.split("#", 1)[0].strip() for line in block.group(1).splitlines())
    return [line for line in lines if line]


def test_quick_start_demo_as_written(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    readme = (clone / "README.md").read_text()
    (demo, _tests) = code_block_after(readme, "## Quick start")
    assert demo == "./scripts/demo"
    proc = subprocess.Popen(
        demo.split(),  # no extra shell in between: Ctrl-C reaches what the user started
        cwd=clone,
        env=shell_env(clone),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    seen = []
    try:
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            seen.append(line)
            if "press Ctrl-C to stop them" in line:
                break
            assert time.monotonic() < deadline, "".join(seen)
        else:
            raise AssertionError("".join(seen))
        output = "".join(seen)
        assert '"connected": true' in output and "successful 1, skipped 0" in output
        # The follower the README names.
        assert "total_global_checkpoint_lag 0 (caught up)" in output, output
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "stopped" in rest, rest
    finally:
        # A failed check must not leave the demo's clusters running after the test.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def test_troubleshooting_lab_commands_as_written(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    page = (clone / "docs" / "troubleshooting.md").read_text()
    commands = code_block_after(page, "To see one yourself:")
    assert commands[0] == "isthmus lab list" and commands[-1] == "isthmus lab down"
    env = shell_env(clone)
    for command in commands:
        done = subprocess.run(
            command, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        if command.startswith("isthmus lab status"):
            assert "health: green" in done.stdout, done.stdout
    assert not (clone / "lab").exists()

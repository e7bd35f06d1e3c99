"""README.md's commands can be copied as they are: the two commands run in order (the server
last), ``.ci/run`` runs the same set-up and test commands, and the ``taoyuan chat`` example
works on a fresh install. Docstrings cite nothing outside the checkout."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from tests.clock import OFFSET_ENV, taoyuan_argv
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(heading: str) -> str:
    """The README text from the line starting with ``heading`` to the next ``## `` heading."""
    start = README.index("\n" + heading) + 1
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def _code_blocks(text: str) -> list[list[str]]:
    """The lines of each ```bash block in ``text``."""
    return [block.splitlines() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def _commands(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_two_commands_run_in_order_and_ci_runs_the_first():
    blocks = _code_blocks(_section("## 两条命令"))
    setup_and_test, serve = _commands(blocks[0])
    assert serve == ".venv/bin/taoyuan serve"  # the one that never returns comes last, alone
    assert "taoyuan serve" not in setup_and_test
    steps = [step.strip() for step in setup_and_test.split("&&")]
    assert steps[0] == "python3 -m venv .venv" and steps[-1] == ".venv/bin/pytest"
    ci = _commands((ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines())
    for step in steps:  # CI runs each step itself (pip quietly)
        assert step in ci or step.replace("pip install ", "pip install --quiet ") in ci, step


def _fresh_env() -> dict[str, str]:
    """The environment of someone who just installed: no TAOYUAN_* settings (the test clock's
    offset aside, so the subprocesses agree with this process on the time)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAOYUAN_") or k == OFFSET_ENV}


def _start_time_for(token: str) -> str:
    """What the README's ``$(… date …)`` in ``--start`` prints, computed on this test's clock
    (the shell's ``date`` would ignore a clock moved by TAOYUAN_TEST_CLOCK)."""
    value = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    if not os.environ.get(OFFSET_ENV):  # real clock: the shell gives the same answer
        shell = subprocess.run(["bash", "-c", f'echo "{token}"'], capture_output=True, text=True,
                               check=True).stdout.strip()
        assert abs(datetime.fromisoformat(shell) - datetime.fromisoformat(value)) <= timedelta(minutes=2)
    return value


def test_the_chat_example_works_on_a_fresh_install(tmp_path):
    serve_block, chat_block = _code_blocks(_section("## 用 `taoyuan chat` 试一试"))
    assert _commands(serve_block) == [".venv/bin/taoyuan serve"]
    shell = [line for line in _commands(chat_block) if line.startswith(".venv/bin/")]
    typed = [re.sub(r"\s+#.*$", "", line.removeprefix("你> ")) for line in _commands(chat_block)
             if line.startswith("你> ")]
    assert shell[-1] == ".venv/bin/taoyuan chat" and typed
    env, port = _fresh_env(), free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")
    server = subprocess.Popen(taoyuan_argv("serve", "--port", str(port)), cwd=tmp_path, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(150):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                requests.get(url + "/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        for line in shell[:-1]:  # e.g. taoyuan activities add … --start "$(… date …)"
            argv = shlex.split(line)
            assert argv[0] == ".venv/bin/taoyuan", line
            args = [_start_time_for(a) if a.startswith("$(") else a for a in argv[1:]]
            done = subprocess.run(taoyuan_argv(*args), cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.strip().splitlines()[-1] == "2"  # "新装的是 2" (1: the 义剪 serve made)
        chat = subprocess.run(taoyuan_argv("chat", "--url", url), cwd=tmp_path, env=env,
                              input="\n".join(typed) + "\n", capture_output=True, text=True,
                              timeout=60)
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    assert chat.returncode == 0, chat.stdout + chat.stderr
    replies = dict(zip(typed, chat.stdout.split("你> ")[1:]))
    assert len(replies) == len(typed), chat.stdout
    for line, reply in replies.items():
        assert reply.startswith("桃源姐妹> "), (line, reply)
        for failure in ("抱歉", "没有找到", "[错误]", "无法识别", "不在签到时间", "不认识的命令"):
            assert failure not in reply, (line, reply)
    assert "近邻课堂" in replies["/click ACTIVITIES"]
    assert "签到成功" in replies["/scan checkin:2"]
    assert "【1】爱心义剪" in replies["义剪"] and "报名 1" in replies["义剪"]


def test_docstrings_cite_nothing_outside_the_checkout():
    found = []
    for folder in ("bot", "handlers", "models", "scheduler"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".txt") and path.is_file():
                text = path.read_text(encoding="utf-8")
                if "/shared/" in text or "wechat-protocol.md" in text:
                    found.append(str(path.relative_to(ROOT)))
    assert not found

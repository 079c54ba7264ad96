"""The README's Python example runs as written (with a smaller budget)."""

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    example = next(block for block in blocks if "accord.Problem(" in block)
    assert "100_000" in example
    monkeypatch.chdir(tmp_path)
    exec(example.replace("100_000", "3_000"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "tension T" in out and "network estimate" in out

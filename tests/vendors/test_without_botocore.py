"""Without the [aws] extra the AWS cases of the vendor suite skip, as
tests/vendors/test_aws.py does, and none fails: those files run in a fresh
interpreter where ``import botocore`` fails, as on an install without the extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The files with AWS cases.
FILES = ["tests/vendors/test_aws.py", "tests/vendors/test_unreadable_bodies.py",
         "tests/vendors/test_send_modules.py", "tests/vendors/test_fallback_pairs.py"]
BLOCKER = 'import sys\n\nsys.modules["botocore"] = None  # "import botocore" raises ImportError\n'


def test_aws_cases_skip_without_botocore(tmp_path):
    (tmp_path / "without_botocore.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "without_botocore",
               "-k", "aws", *FILES]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:]
    assert "skipped" in summary and "failed" not in summary and "error" not in summary, summary

import json
import os
import sys
from pathlib import Path

from runners.harness import exit_now, main

code = main("fake")

# Report-level faults happen after the harness wrote a valid report, as a broken runner or a full
# disk would leave it: the orchestrator must not trust it.
fault = os.environ.get("BENCH_FAKE_FAULT", "")
only = os.environ.get("BENCH_FAKE_FAULT_REPEAT")
args = sys.argv[1:]
# Only after a report was written (0 ok, 1 another status): on a usage error (2) the spec may be
# anything at all, and reading it here would turn main's one-line error into a traceback.
written = code in (0, 1) and "--out" in args and "--spec" in args
out = Path(args[args.index("--out") + 1]) if written else None
spec = json.loads(Path(args[args.index("--spec") + 1]).read_text()) if written else {}
if out is not None and out.exists() and only in (None, str(spec.get("repeat"))):
    text = out.read_text()
    if fault == "garbage":
        out.write_text("this is not JSON {")
    elif fault == "truncated":
        out.write_text(text[: len(text) // 2])
    elif fault == "huge":
        out.write_text(text[:-2] + ', "padding": "' + "x" * (25 * 1024 * 1024) + '"}')
    elif fault == "version":
        out.write_text(json.dumps({**json.loads(text), "schema_version": 99}))
    elif fault == "exit3":
        code = 3
exit_now(code)

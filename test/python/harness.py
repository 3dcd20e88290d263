"""The shared end of the Python test scripts: run every check, report each,
and exit non-zero if any failed."""
import sys


def run_checks(checks):
    """Run `checks`, a list of (name, function); a check fails by raising."""
    failures = 0
    for name, check in checks:
        try:
            check()
            print(f"ok    {name}")
        except Exception as e:  # noqa: BLE001 - report every failing check, then go on
            failures += 1
            print(f"FAIL  {name}: {e}")
    print(f"{len(checks) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)

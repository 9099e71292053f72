"""``python -m benchmarks.no_otel ...``: the asyncjobs CLI as installed without the ``otel``
extra (``opentelemetry`` cannot be imported), for ``benchmarks.tracing``."""

import sys

sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # every import of it fails

from asyncjobs.cli import main  # noqa: E402  (after the block above)

main()

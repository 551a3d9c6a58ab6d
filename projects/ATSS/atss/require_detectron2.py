"""
Imported first by every script that needs detectron2 (``train_net.py``, the demo, the tools and
the benchmarks): without detectron2, or without the packages it brings (omegaconf, fvcore), the
script ends here with one line that names the set-up command, and exit status 2, instead of a
traceback from its first import.
"""
import os
import sys

SETUP_COMMAND = "bash tools/install.sh"

try:
    import fvcore  # noqa: F401
    import omegaconf  # noqa: F401

    import detectron2  # noqa: F401
except ImportError as e:
    sys.stderr.write(
        f"{os.path.basename(sys.argv[0]) or 'python'}: error: {e.name or 'detectron2'} is not "
        f"installed in {sys.executable}; set up with `{SETUP_COMMAND}` from the repository root "
        "(docs/install.md).\n"
    )
    sys.exit(2)

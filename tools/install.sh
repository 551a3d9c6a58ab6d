#!/usr/bin/env bash
# Sets up this project in the current Python environment, from the repository root:
#   bash tools/install.sh
# 1. torch and torchvision, when they are not importable, then a check that the pair works;
# 2. detectron2 at the pinned commit below, built from source with --no-build-isolation;
# 3. this project with its extras, in editable mode.
# It can be run again: what is already there and works is kept. docs/install.md explains each
# step, the variables below and the errors a user meets.
#
#   TORCH_INDEX_URL    the wheel index for torch and torchvision (e.g. a CUDA or CPU build of
#                      https://download.pytorch.org/whl/); default: pip's configured index.
#   DETECTRON2_SOURCE  a local detectron2 checkout or archive (of the pinned commit) to build
#                      instead of detectron2's repository.
#   PYTHON             the interpreter to install into (default: python).
set -euo pipefail

# The detectron2 commit this project is tested on; moving it is described in docs/install.md.
DETECTRON2_COMMIT=02b5c4e295e990042a714712c21dc79b731e8833
DETECTRON2_REPOSITORY=https://github.com/facebookresearch/detectron2.git

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}

say() { echo "[install] $*"; }
fail() {
    echo "[install] error: $*" >&2
    exit 1
}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || fail "Python 3.9 or newer is needed; $("$PYTHON" --version 2>&1) is $(command -v "$PYTHON")."
say "Python: $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# 1. torch and torchvision. A pair built for each other is needed: torchvision's compiled ops
# (nms) are what detectron2 calls, and a mismatched pair fails only there.
if "$PYTHON" -c 'import torch, torchvision' 2>/dev/null; then
    say "torch and torchvision are installed: kept."
else
    index=()
    if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
        index=(--index-url "$TORCH_INDEX_URL")
    fi
    say "installing torch and torchvision ${TORCH_INDEX_URL:+from $TORCH_INDEX_URL}"
    "$PYTHON" -m pip install "${index[@]}" torch torchvision
fi
"$PYTHON" - <<'EOF' || fail "torch and torchvision do not work together (see above). Reinstall them \
as a pair from one index: $PYTHON -m pip install --force-reinstall torch torchvision (with \
--index-url for a CUDA or CPU build); docs/install.md, 'torchvision::nms does not exist'."
import torch, torchvision
boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
assert keep.tolist() == [0], keep
cuda = f"CUDA {torch.version.cuda}, GPU available: {torch.cuda.is_available()}" if torch.version.cuda else "CPU build"
print(f"[install] torch {torch.__version__}, torchvision {torchvision.__version__} ({cuda}): nms runs.")
EOF

# 2. detectron2. Its setup.py imports torch, which pip's isolated build environment lacks: hence
# --no-build-isolation, which builds it against the torch installed above.
if "$PYTHON" -c 'import detectron2' 2>/dev/null; then
    say "detectron2 is installed: kept. $("$PYTHON" - <<'EOF'
import json
from importlib import metadata

import detectron2

dist = metadata.distribution("detectron2")
origin = json.loads(dist.read_text("direct_url.json") or "{}")
source = origin.get("vcs_info", {}).get("commit_id") or origin.get("url", "unknown source")
print(f"Version {detectron2.__version__} from {source}.")
EOF
)"
else
    source=${DETECTRON2_SOURCE:-git+$DETECTRON2_REPOSITORY@$DETECTRON2_COMMIT}
    say "building detectron2 from $source (a few minutes)"
    "$PYTHON" -m pip install --no-build-isolation "$source" \
        || fail "detectron2 did not build from $source (see above; docs/install.md lists the usual causes)."
    "$PYTHON" -c 'import detectron2' || fail "detectron2 was installed but cannot be imported."
fi

# 3. This project, editable, with the test, notebook and export extras.
say "installing this project: pip install -e .[dev,notebooks,export]"
"$PYTHON" -m pip install -e ".[dev,notebooks,export]"
"$PYTHON" -c 'import atss, detectron2; atss.ATSS' || fail "atss does not import with detectron2."
say "done. Next: python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py"

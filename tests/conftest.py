import os
import sys

# Developer builds (tools/dev_build.sh) keep the extension in python/fastinfer; an installed
# package takes precedence only when the working tree has no build.
_here = os.path.dirname(os.path.abspath(__file__))
_src = os.path.join(os.path.dirname(_here), "python")
if any(f.startswith("_core") for f in os.listdir(os.path.join(_src, "fastinfer"))):
    sys.path.insert(0, _src)
sys.path.insert(0, _here)

#!/usr/bin/env python
"""
The package's metadata is in setup.cfg. This file links the configs into the package at build
time, as detectron2's setup.py does for ``detectron2/model_zoo/configs``: ``configs/`` at the
root stays their one source, ``atss/model_zoo/configs`` (ignored by git) links to it in a checkout
(``pip install -e .``) and a wheel holds a copy.
"""

import os
import shutil
from os import path
from setuptools import setup

ROOT = path.dirname(path.abspath(__file__))


def link_model_zoo_configs() -> None:
    source = path.join(ROOT, "configs")
    destination = path.join(ROOT, "projects", "ATSS", "atss", "model_zoo", "configs")
    # Built from an sdist, the package already holds the configs and the root has none.
    if not path.isdir(source):
        return
    if path.islink(destination):
        os.unlink(destination)
    elif path.isdir(destination):
        shutil.rmtree(destination)  # a copy of an earlier build
    try:
        os.symlink(path.relpath(source, path.dirname(destination)), destination)
    except OSError:  # no symbolic links (e.g. Windows without the privilege)
        shutil.copytree(source, destination)


link_model_zoo_configs()
setup()

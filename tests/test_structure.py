"""The layout's rules: `keras_airn` is the library floor, the tools never import each other,
and installing the project puts only `keras_airn` into site-packages."""

import ast
import os
import tomllib

import pytest
import setuptools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("train", "convert", "edge")


def imported_packages(folder):
    """{file: top-level packages it imports} for every .py file below `folder`."""
    found = {}
    for directory, _, names in os.walk(os.path.join(ROOT, folder)):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                tree = ast.parse(open(path).read(), path)
                tops = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for alias in node.names}
                tops |= {node.module.split(".")[0] for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
                found[os.path.relpath(path, ROOT)] = tops
    return found


@pytest.mark.parametrize("folder", ("keras_airn",) + TOOLS)
def test_tools_depend_on_the_library_only(folder):
    forbidden = set(TOOLS) - {folder}
    offending = {path: sorted(tops & forbidden) for path, tops in imported_packages(folder).items()
                 if tops & forbidden}
    assert not offending, offending


def test_only_the_library_is_installed():
    config = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = setuptools.find_packages(ROOT, include=include)
    assert "keras_airn" in packages and "keras_airn.training" in packages and "keras_airn.export" in packages
    assert all(package.split(".")[0] == "keras_airn" for package in packages), packages

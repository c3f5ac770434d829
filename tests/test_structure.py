"""The layout's rules: `keras_airn` is the library floor, the tools never import each other,
and installing the project puts only `keras_airn` into site-packages."""

import ast
import os
import sys
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


# keras_airn's packages, each importing only those before it (keras_airn/__init__.py).
PLUMBING = {"errors", "files", "tf_env", "cli", "machine", "_moved"}
LAYERS = ["data", "network", "inference", "export", "training", "task"]
ALLOWED = {
    "data": set(),
    "network": set(),
    "inference": {"data", "network"},
    "export": {"data", "network", "inference"},
    "training": {"data", "network", "inference"},
    "task": {"data", "network", "inference", "export", "training"},
}


def library_imports():
    """{(file, its package): keras_airn packages it imports}, below the top-level package."""
    found = {}
    library = os.path.join(ROOT, "keras_airn")
    for directory, _, names in os.walk(library):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            package = os.path.relpath(path, library).split(os.sep)[0].removesuffix(".py")
            tree = ast.parse(open(path).read(), path)
            modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules += [node.module] if node.module != "keras_airn" else [
                        f"keras_airn.{alias.name}" for alias in node.names]
            found[(os.path.relpath(path, ROOT), package)] = {
                module.split(".")[1] for module in modules if module.startswith("keras_airn.")}
    return found


def test_library_packages_import_only_the_layers_below_them():
    broken = {}
    for (path, package), imported in library_imports().items():
        if package not in ALLOWED:
            continue
        wrong = imported - ALLOWED[package] - PLUMBING - {package}
        if wrong:
            broken[path] = sorted(wrong)
    assert not broken, broken


def test_every_package_says_what_it_may_import():
    for package in LAYERS[:-1]:
        doc = ast.get_docstring(ast.parse(open(os.path.join(ROOT, "keras_airn", package, "__init__.py")).read()))
        assert doc and "May import" in doc, package


def test_old_module_names_still_import_with_a_warning():
    import warnings

    import keras_airn
    from keras_airn._moved import MOVED

    public = set(keras_airn.__all__)

    def forget(old):  # another test, or the line before, may have imported it already
        sys.modules.pop(old, None)
        if old.rsplit(".", 1)[1] not in public:
            keras_airn.__dict__.pop(old.rsplit(".", 1)[1], None)

    for old, new in MOVED.items():
        forget(old)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = __import__(old, fromlist=["_"])
        assert module.__name__ == new and any(issubclass(w.category, DeprecationWarning) for w in caught), old
        leaf = old.rsplit(".", 1)[1]
        if leaf in public:  # also a public name (`keras_airn.profile`, the function): that stays
            assert getattr(keras_airn, leaf) is not module and callable(getattr(keras_airn, leaf)), old
            continue
        forget(old)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(keras_airn, leaf) is module  # `import keras_airn` alone
        assert any(issubclass(w.category, DeprecationWarning) for w in caught), old

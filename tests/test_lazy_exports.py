"""Packages export their public names lazily: each name is the object its module defines, a package
imports none of them until read, and the replay benchmark loads neither torch nor the model."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

from sonar.bench import code_digest as cd

PACKAGES = ["sonar", "sonar.model", "sonar.systems", "sonar.train", "sonar.data", "sonar.checkpoint"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_export_is_the_object_its_module_defines(package):
    module = importlib.import_module(package)
    assert module.EXPORTS == cd.lazy_exports(package)  # the literal the code digest reads
    for name, source in module.EXPORTS.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name)
    assert set(module.__all__) <= set(dir(module))
    assert set(module.__all__) - set(module.EXPORTS) <= set(vars(module))  # the rest are imported eagerly


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(package):
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        module.nonexistent  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package} import nonexistent", {})


def test_the_replay_benchmark_loads_neither_torch_nor_the_model():
    script = ("import sys, sonar, sonar.bench.suite, sonar.bench.methods, sonar.bench.table\n"
              "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('sonar.model.transformer')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_public_api_still_reads_from_the_top_package():
    import sonar
    from sonar import ModelConfig, build_model, preset

    model = build_model(preset("tiny"))
    assert isinstance(model.config, ModelConfig) and sonar.build_model is build_model


@pytest.mark.parametrize("package", PACKAGES)
def test_no_export_shares_its_name_with_a_submodule(package):
    # importing the submodule would bind the package's attribute to the module, hiding the export
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert not set(module.EXPORTS) & submodules

"""The import rule of chalicelib: dependencies point one way (see docs/architecture.md)."""

from __future__ import annotations

import graphlib

import grimp
import pytest

PACKAGE = "chalicelib"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # every import counts, also those inside functions: they run too, just later
    return grimp.build_graph(PACKAGE, cache_dir=None)


@pytest.fixture(scope="module")
def loaded() -> grimp.ImportGraph:
    """What importing a module really runs: also the __init__ of each package above it, and
    not what only a type checker reads."""
    graph = grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)
    for module in graph.modules:
        parent = module.rpartition(".")[0]
        if parent:
            graph.add_import(importer=module, imported=parent)
    return graph


def test_no_import_cycle(graph: grimp.ImportGraph) -> None:
    # a package's own __init__ importing its modules is how Python packages work, not a cycle
    sorter = graphlib.TopologicalSorter(
        {
            module: {
                imported
                for imported in graph.find_modules_directly_imported_by(module)
                if not module.startswith(f"{imported}.")
            }
            for module in graph.modules
        }
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_every_module_is_in_the_graph(graph: grimp.ImportGraph) -> None:
    # a folder without __init__.py would leave its modules out of the checks above
    assert {"chalicelib.retry.sqs", "chalicelib.tokens.sqlite"} <= graph.modules


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("chalicelib.pns", "chalicelib.apps"),  # a transport knows no app type
        ("chalicelib.remote_log", "chalicelib.apps"),
        ("chalicelib.runtime", "chalicelib.delivery"),  # the runtime knows no use case
        ("chalicelib.runtime", "chalicelib.api"),
    ],
)
def test_forbidden_import(loaded: grimp.ImportGraph, importer: str, imported: str) -> None:
    chain = loaded.find_shortest_chain(importer=importer, imported=imported, as_packages=True)
    assert chain is None, f"{importer} reaches {imported}: {' -> '.join(chain or ())}"


@pytest.mark.parametrize("package", ["chalicelib", "fakepns", "bench"])
def test_nothing_outside_the_tests_imports_them(package: str) -> None:
    # `make run` (the simulator and the API) and the benchmarks work without the test suite
    outside = grimp.build_graph(package, include_external_packages=True, cache_dir=None)
    assert "tests" not in outside.modules, outside.find_modules_that_directly_import("tests")


# The layers of docs/architecture.md, top first: a module imports only from layers below its
# own, and the modules of one layer import none of each other.
LAYERS = (
    grimp.Layer("api"),  # the edge: HTTP and the retry consumer, wiring
    grimp.Layer("push_v1", "devices", "expiry"),  # use cases
    grimp.Layer("delivery"),  # build, send, judge and settle a job
    grimp.Layer("remote_log"),
    grimp.Layer("answers"),
    grimp.Layer("runtime", "pns"),  # the container's adapters; the push services
    grimp.Layer("config", "retry", "tokens"),
    grimp.Layer("apps", "credentials", "settings", "openapi"),
    grimp.Layer("models", "notification", "audit", "tracing"),
    grimp.Layer("logformat", "errors"),
)


def test_each_layer_imports_only_the_layers_below_it(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={PACKAGE})
    routes = sorted(
        " -> ".join([*sorted(route.heads), *route.middle, *sorted(route.tails)])
        for dependency in illegal
        for route in dependency.routes
    )
    assert not routes, routes

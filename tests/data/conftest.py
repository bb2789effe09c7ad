import pytest

from sphinx_x.data import converters


@pytest.fixture(autouse=True)
def converts_what_it_says(request, monkeypatch):
    """A test marked `converts(kind, ...)` must convert at least one record of each kind it names."""
    marker = request.node.get_closest_marker("converts")
    if marker is None:
        yield
        return
    # A parametrized test converts its own `kind` each time; the marker names them all.
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    kinds = [params["kind"]] if "kind" in params else marker.args
    produced = dict.fromkeys(kinds, 0)
    for kind in kinds:
        function, family = converters.CONVERTERS[kind]
        monkeypatch.setitem(converters.CONVERTERS, kind, (counting(function, kind, produced), family))
    yield
    silent = [kind for kind, records in produced.items() if not records]
    assert not silent, (
        f"marked converts({', '.join(marker.args)}) but converted no record of: {', '.join(silent)}"
    )


def counting(function, kind: str, produced: dict):
    def converter(sources, options):
        for where, result in function(sources, options):
            produced[kind] += not isinstance(result, Exception)
            yield where, result

    return converter

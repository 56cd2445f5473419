"""A package, so that this conftest.py gets a unique module name (hooks.conftest) next to the
other test folders' conftest.py files under --doctest-modules."""

"""Scaffold (SEMANTICS (h)): fields, the one-argument init_fn, copy_from_scaffold."""

import pytest

from torch_estimator.contract import Scaffold


def init_op():
    return None


def local_init_op():
    return None


def test_defaults_are_none():
    scaffold = Scaffold()
    for field in ("init_op", "init_feed_dict", "init_fn", "ready_op", "ready_for_local_init_op"):
        assert getattr(scaffold, field) is None
    assert (scaffold.local_init_op, scaffold.summary_op, scaffold.saver, scaffold.user_init_fn) == (None,) * 4
    assert repr(scaffold) == "Scaffold()"


def test_init_fn_is_exposed_with_one_argument():
    calls = []

    def init_fn(scaffold, session):
        calls.append((scaffold, session))

    scaffold = Scaffold(init_fn=init_fn)
    scaffold.init_fn("session")
    assert calls == [(scaffold, "session")]
    assert scaffold.user_init_fn is init_fn


def test_copy_from_scaffold_copies_unset_fields_and_keeps_explicit_ones():
    def user_init_fn(scaffold, session):
        return scaffold, session

    base = Scaffold(
        init_op=init_op,
        init_feed_dict={"x": 1},
        init_fn=user_init_fn,
        ready_op=list,
        ready_for_local_init_op=list,
        local_init_op=local_init_op,
        summary_op="summaries",
        saver="base saver",
    )
    copied = Scaffold(local_init_op=init_op, saver="own saver", copy_from_scaffold=base)
    assert copied.local_init_op is init_op
    assert copied.saver == "own saver"
    assert copied.init_op is init_op
    assert copied.init_feed_dict == {"x": 1}
    assert copied.ready_op is list
    assert copied.ready_for_local_init_op is list
    assert copied.summary_op == "summaries"
    # The user's original function is copied, and receives the new scaffold.
    assert copied.user_init_fn is user_init_fn
    assert copied.init_fn("session") == (copied, "session")


def test_explicit_init_fn_wins_over_copied_one():
    def base_fn(scaffold, session):
        return "base"

    def own_fn(scaffold, session):
        return "own"

    copied = Scaffold(init_fn=own_fn, copy_from_scaffold=Scaffold(init_fn=base_fn))
    assert copied.init_fn(None) == "own"


@pytest.mark.parametrize("other", [object(), {"init_op": init_op}, "scaffold"])
def test_copy_from_scaffold_must_be_a_scaffold(other):
    with pytest.raises(TypeError, match="copy_from_scaffold is not a Scaffold instance"):
        Scaffold(copy_from_scaffold=other)


@pytest.mark.parametrize(
    "field", ["init_op", "init_fn", "ready_op", "ready_for_local_init_op", "local_init_op"]
)
def test_ops_must_be_callable(field):
    with pytest.raises(TypeError, match=f"Scaffold {field} must be callable") as info:
        Scaffold(**{field: "not callable"})
    assert "'not callable'" in str(info.value)


def test_repr_names_given_fields():
    assert repr(Scaffold(init_op=init_op, saver="saver")) == "Scaffold(init_op, saver)"

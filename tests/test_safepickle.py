"""The organisers' feature pickles are untrusted: numpy arrays load, anything executable is refused unexecuted."""

from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness import safepickle
from abaw_bench.harness.errors import AbawError


class _Exploit:
    """Pickles to `callable(*args)`: what a crafted .pkl would run on a plain `pickle.load`."""

    def __init__(self, call: object, *args: object) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.call, self.args


def _exploits(marker: Path) -> dict[str, object]:
    touch = f"touch {marker}"
    return {
        "os.system": _Exploit(os.system, touch),
        "builtins.eval": _Exploit(eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Exploit(subprocess.Popen, ["touch", str(marker)]),
        # hidden inside a legitimate-looking container next to a real array
        "builtins.exec": {"features": np.zeros((2, 3)), "x": _Exploit(exec, f"open({str(marker)!r}, 'w').close()")},
    }


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "subprocess.Popen", "builtins.exec"])
def test_malicious_pickle_is_refused_without_executing(tmp_path: Path, attack: str, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "vit" / "00001.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(_exploits(marker)[attack], protocol=protocol))
    with pytest.raises(AbawError) as caught:
        safepickle.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert f".{attack.split('.')[-1]}" in message  # the global it reached for (protocol 2 writes py2 module names)
    assert not marker.exists()
    with pytest.raises(AbawError):
        safepickle.load_features(path)
    assert not marker.exists()


def test_the_exploit_works_with_plain_pickle(tmp_path: Path) -> None:
    """Guards the test above: the same bytes DO run code through an unrestricted unpickler."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_exploits(marker)["builtins.eval"])
    pickle.loads(payload)
    assert marker.exists()


def _arrays() -> dict[str, np.ndarray]:
    generator = np.random.default_rng(0)
    base = generator.standard_normal((6, 8))
    return {
        "float32 2-D": base.astype(np.float32),
        "float64 2-D": base,
        "0-size": np.zeros((0, 384), dtype=np.float32),
        "0-size float64": np.zeros((0, 768)),
        "non-contiguous": base[::2, ::3],
        "fortran order": np.asfortranarray(base.astype(np.float32)),
        "big-endian": base.astype(">f4"),
    }


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("kind", list(_arrays()))
def test_real_array_pickles_load_equal(tmp_path: Path, kind: str, protocol: int) -> None:
    array = _arrays()[kind]
    path = tmp_path / "a.pkl"
    payload = pickle.dumps(array, protocol=protocol)
    path.write_bytes(payload)
    loaded = safepickle.load(path)
    reference = pickle.loads(payload)  # our own bytes: trusted, the unrestricted result to match
    assert isinstance(loaded, np.ndarray) and loaded.dtype == reference.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    features = safepickle.load_features(path)
    assert features.dtype == np.float32 and features.shape == array.shape
    np.testing.assert_array_equal(features, array.astype(np.float32))


def test_containers_and_scalars_of_numpy_load(tmp_path: Path) -> None:
    value = {"feats": [np.ones((2, 2), dtype=np.float32)], "fps": np.float64(6.0), "n": 3}
    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps(value))
    loaded = safepickle.load(path)
    np.testing.assert_array_equal(loaded["feats"][0], value["feats"][0])
    assert loaded["fps"] == 6.0 and loaded["n"] == 3


def test_numpy_1_module_spelling_is_accepted(tmp_path: Path) -> None:
    """Pickles written by numpy 1.x name numpy.core.multiarray; they must load under numpy 2 too."""
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    payload = pickle.dumps(array, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "old.pkl"
    path.write_bytes(payload)
    np.testing.assert_array_equal(safepickle.load(path), array)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1}, "found dict"),
        (np.array(["x", "y"]), "dtype <U1"),
        (np.zeros((2, 3, 4)), "shape (2, 3, 4)"),
    ],
)
def test_load_features_names_what_it_found(tmp_path: Path, value: object, expected: str) -> None:
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(value))
    with pytest.raises(AbawError, match=r"odd\.pkl") as caught:
        safepickle.load_features(path)
    assert expected in str(caught.value)


def test_corrupt_and_missing_files_are_user_errors(tmp_path: Path) -> None:
    truncated = tmp_path / "t.pkl"
    truncated.write_bytes(pickle.dumps(np.zeros((4, 4)))[:-10])
    with pytest.raises(AbawError, match=r"t\.pkl: not a valid feature pickle"):
        safepickle.load(truncated)
    with pytest.raises(AbawError, match=r"missing\.pkl: cannot read"):
        safepickle.load(tmp_path / "missing.pkl")


def test_object_arrays_cannot_smuggle_globals(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    smuggled = np.array([None, _Exploit(os.system, f"touch {marker}")], dtype=object)
    path = tmp_path / "o.pkl"
    path.write_bytes(pickle.dumps(smuggled))
    with pytest.raises(AbawError, match="system"):
        safepickle.load(path)
    assert not marker.exists()

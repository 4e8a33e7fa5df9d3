import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import seqloaders as sl


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A 24-image toy WIDER FACE dataset, shared read-only by the tests of a session."""
    return sl.make_toy_dataset(tmp_path_factory.mktemp("toy"), num_images=24, seed=3)


@pytest.fixture(scope="session", autouse=True)
def _parse_cache(tmp_path_factory):
    """The readers' parse cache (seqloaders.parsecache) in the session's temporary folder, never the
    user's ~/.cache; child processes inherit it."""
    before = os.environ.get("SEQLOADERS_CACHE")
    os.environ["SEQLOADERS_CACHE"] = str(tmp_path_factory.mktemp("parse-cache"))
    yield
    if before is None:
        os.environ.pop("SEQLOADERS_CACHE", None)
    else:
        os.environ["SEQLOADERS_CACHE"] = before

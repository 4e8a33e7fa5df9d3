import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import seqloaders as sl


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A 24-image toy WIDER FACE dataset, shared read-only by the tests of a session."""
    return sl.make_toy_dataset(tmp_path_factory.mktemp("toy"), num_images=24, seed=3)

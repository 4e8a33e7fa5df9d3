"""A real S3-compatible server (moto's standalone server) and an HTTP server on 127.0.0.1, for the
remote-storage tests. Each test module starts its own and stops it at the end."""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from seqloaders.storage import files

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class S3:
    """A running moto server: its endpoint, the options that reach it, and an s3fs client."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.storage_options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        import s3fs

        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)

    def upload(self, local: str, url: str) -> str:
        """Copy a local folder (or file) to ``url`` (``s3://bucket/prefix``); returns ``url``."""
        inner = url.split("://", 1)[1].rstrip("/")
        bucket = inner.split("/", 1)[0]
        if not self.fs.exists(bucket):
            self.fs.mkdir(bucket)
        if os.path.isdir(local):
            for dirpath, _, names in os.walk(local):
                for name in names:
                    path = os.path.join(dirpath, name)
                    rel = os.path.relpath(path, local).replace(os.sep, "/")
                    with open(path, "rb") as f:
                        self.fs.pipe_file(f"{inner}/{rel}", f.read())
        else:
            with open(local, "rb") as f:
                self.fs.pipe_file(inner, f.read())
        self.fs.invalidate_cache()
        return url


def _clear_filesystems() -> None:
    files._FS_MEMO.clear()
    with contextlib.suppress(ImportError):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()


@contextlib.contextmanager
def s3_server(tmp_cache: str) -> Iterator[S3]:
    """Start moto's standalone S3 server on 127.0.0.1 (a free port), point the standard AWS
    variables at it, and stop it at the end."""
    pytest.importorskip("s3fs", reason='the S3 tests need the test extra: pip install -e ".[test]"')
    server_module = pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the test extra)")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        with pytest.MonkeyPatch.context() as mp:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
                mp.delenv(name, raising=False)
            mp.setenv("AWS_CONFIG_FILE", os.path.join(tmp_cache, "no-aws-config"))
            mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.path.join(tmp_cache, "no-aws-credentials"))
            mp.setenv("AWS_ENDPOINT_URL", endpoint)
            for name, value in CREDENTIALS.items():
                mp.setenv(name, value)
            mp.setenv("SEQLOADERS_CACHE_DIR", os.path.join(tmp_cache, "default-cache"))
            _clear_filesystems()
            try:
                yield S3(endpoint)
            finally:
                _clear_filesystems()
    finally:
        server.stop()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def http_server(folder: str) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) with Python's http.server; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def assert_same_samples(local, remote, local_root: str, remote_root: str) -> None:
    """Samples read from disk and from a store agree in everything; image paths differ by root."""
    assert len(local) == len(remote) > 0
    assert tuple(local.class_names) == tuple(remote.class_names)
    for a, b in zip(local, remote):
        rel_a = os.path.relpath(a.image, local_root).replace(os.sep, "/")
        assert b.image == f"{remote_root.rstrip('/')}/{rel_a}"
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.image_size == b.image_size
        assert sorted(a.attributes) == sorted(b.attributes)
        for name in a.attributes:
            np.testing.assert_array_equal(a.attributes[name], b.attributes[name])
        if a.keypoints is None:
            assert b.keypoints is None
        else:
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
        assert (a.masks is None) == (b.masks is None)
        meta_a = {k: v for k, v in a.meta.items() if not isinstance(v, str) or not os.path.isabs(v)}
        meta_b = {k: v for k, v in b.meta.items() if k in meta_a}
        assert meta_a == meta_b

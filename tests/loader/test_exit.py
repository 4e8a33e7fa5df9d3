"""The exit handler's wait for threads that called the loader (loader/threads.py), in a fresh interpreter.

Why it waits: a ``tf.data`` thread that called a Sequence still runs Python after the loader
returns or raises (Keras' generator ending, tf.data finalizing it). If finalization starts first,
that thread never gets the GIL again and the main thread, destroying the iterator, waits forever;
tests/loader/test_worker_errors.py hung so in about 1 run in 10 before the wait covered it.
"""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, threading, time
    from seqloaders.loader.threads import exiting, in_call, release_waiters

    def timed(**kwargs):
        start = time.monotonic()
        release_waiters(**kwargs)
        return time.monotonic() - start

    out = {}
    with in_call():  # the main thread's own calls: nothing to wait for
        pass
    out["main only"] = timed(grace=0.5)
    out["exiting"] = exiting()

    def call(hold):
        with in_call():
            time.sleep(hold)

    thread = threading.Thread(target=call, args=(0.0,))
    thread.start()
    thread.join()
    out["thread left"] = timed(grace=0.5)

    thread = threading.Thread(target=call, args=(0.3,))
    thread.start()
    time.sleep(0.05)
    out["thread inside"] = timed(grace=0.5)
    thread.join()

    thread = threading.Thread(target=call, args=(5.0,), daemon=True)
    thread.start()
    time.sleep(0.05)
    out["thread stuck"] = timed(grace=0.5, timeout=1.0)
    print(json.dumps(out))
''')


def test_exit_waits_for_a_thread_that_left_the_loader_lately_and_not_for_the_main_thread():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    waited = json.loads(proc.stdout.strip().splitlines()[-1])
    assert waited["exiting"]
    assert waited["main only"] < 0.25, waited  # the main thread has no Python left to run elsewhere
    assert waited["thread left"] >= 0.45, waited  # it left just now: it gets the grace, with the GIL free
    assert waited["thread inside"] >= 0.25 + 0.45, waited  # until it leaves, then the grace
    assert 0.95 <= waited["thread stuck"] < 3.0, waited  # a thread that never leaves holds the exit up to timeout

"""Host staging buffers of a backend (pinned on a GPU) and the exchange pipeline's reuse of them."""

import numpy as np
import pytest

from dqsim.state import exchange
from conftest import TEST_BACKEND as BACKEND


@pytest.mark.skipif(BACKEND is None, reason="DQSIM_TEST_BACKEND=cupy without a GPU")
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_to_host_into_fills_the_given_host_array(dtype):
    """``to_host_into`` copies a (device) array into a ``pinned_empty`` host array and returns that array."""
    host = BACKEND.pinned_empty(1000, dtype)
    assert isinstance(host, np.ndarray) and host.dtype == dtype and host.size == 1000
    values = (np.arange(600) + 1j * np.arange(600)[::-1]).astype(dtype)
    out = BACKEND.to_host_into(BACKEND.asarray(values), host[:600])
    assert np.shares_memory(out, host)
    np.testing.assert_array_equal(host[:600], values)


@pytest.mark.skipif(BACKEND is None, reason="DQSIM_TEST_BACKEND=cupy without a GPU")
def test_host_buffers_are_kept_between_exchanges_and_grow_when_needed():
    """The pipeline's host buffers are made once per size and dtype (pinning is slow), like its device buffers."""
    exchange._LAST_HOST_BUFFERS.clear()
    first = exchange._host_buffers(BACKEND, np.complex128, 1 << 10)
    assert exchange._host_buffers(BACKEND, np.complex128, 1 << 9) is first
    bigger = exchange._host_buffers(BACKEND, np.complex128, 1 << 11)
    assert bigger is not first and bigger[0][0].size == 1 << 11
    assert len(bigger[0]) == len(bigger[1]) == exchange.PIPELINE_DEPTH
    exchange._LAST_HOST_BUFFERS.clear()

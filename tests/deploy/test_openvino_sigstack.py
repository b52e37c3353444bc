"""OpenVINO's compiled models released out of order must not leave the thread on an unmapped signal stack."""

from __future__ import annotations

import gc
import sys

import pytest

from edgevision.deploy import sigstack

pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'edgevision[openvino]')")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signal stacks are set up on Linux")


def mapped(address: int) -> bool:
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
            if lo <= address < hi:
                return True
    return False


def tiny_ir():
    import openvino as ov
    from openvino import opset13 as ops

    x = ops.parameter([1, 4], ov.Type.f32)
    return ov.Model([ops.relu(x)], [x])


def release_out_of_order() -> None:
    """Two cores (each loads its own CPU plugin, which sets up a signal stack), released in the order made."""
    import openvino as ov

    a = ov.Core().compile_model(tiny_ir(), "CPU")
    b = ov.Core().compile_model(tiny_ir(), "CPU")
    del a  # a's plugin goes first; b's then restores a's (unmapped) stack when it goes
    gc.collect()
    del b
    gc.collect()


def test_the_plugin_alone_leaves_an_unmapped_stack():
    """The hazard itself, so that the guard below is known to guard something."""
    release_out_of_order()
    address = sigstack.current()[0]
    if address == 0:
        pytest.skip("this OpenVINO build sets up no signal stack")
    assert not mapped(address)
    assert sigstack.keep_signal_stack()
    assert mapped(sigstack.current()[0]) and sigstack.current()[2] == sigstack.SIZE


def test_compiles_and_nncf_leave_edgevision_s_stack_in_place():
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    from edgevision.deploy.openvino import compile_model, quantize_int8

    x = ops.parameter([1, 3, 8, 8], ov.Type.f32)
    w = ops.constant(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32))
    conv = ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1])
    model = ov.Model([ops.relu(conv)], [x])
    compile_model(model, threads=1)
    calib = np.random.default_rng(1).random((8, 3, 8, 8), np.float32)
    ref = np.asarray(compile_model(model, threads=1)(calib[:1])[0])
    quantize_int8(model, calib, calib[:1], ref.reshape(1, -1), max_drop=1.0)
    gc.collect()
    address, _, size = sigstack.current()
    assert mapped(address) and size == sigstack.SIZE


def test_each_thread_gets_a_stack_of_its_own():
    import threading

    seen = []

    def grab():
        sigstack.keep_signal_stack()
        seen.append(sigstack.current()[0])

    threads = [threading.Thread(target=grab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sigstack.keep_signal_stack()
    assert len({*seen, sigstack.current()[0]}) == 3 and all(mapped(a) for a in seen)

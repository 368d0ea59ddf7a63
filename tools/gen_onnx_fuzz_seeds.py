"""Writes the seed models of fuzz/fuzz_onnx.c: tiny valid ONNX files (< 256 bytes each, the
fuzz run's max_len) that reach initializers, attributes, shape-carrying inputs and
several operator families. Run with the pyenv python3 (onnx installed)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus", "fuzz_onnx")


def model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="")
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def seeds():
    yield "relu", model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 3])],
                        [vi("y", None)])
    w = numpy_helper.from_array(np.arange(3, dtype=np.float32), "w")
    yield "add_init", model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", [2, 3])],
                            [vi("y", None)], [w])
    s = numpy_helper.from_array(np.array([3, -1], dtype=np.int64), "s")
    yield "reshape", model([helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", [6])],
                           [vi("y", None)], [s])
    yield "attrs", model([helper.make_node("Clip", ["x"], ["y"]),
                          helper.make_node("Flatten", ["y"], ["z"], axis=1),
                          helper.make_node("LeakyRelu", ["z"], ["o"], alpha=0.2)],
                         [vi("x", [1, 2, 2])], [vi("o", None)])
    c = helper.make_tensor("v", TensorProto.FLOAT, [2], [1.5, -2.0])
    yield "constant", model([helper.make_node("Constant", [], ["c"], value=c),
                             helper.make_node("Mul", ["x", "c"], ["y"])],
                            [vi("x", [2])], [vi("y", None)])
    i32 = helper.make_tensor("b", TensorProto.INT32, [2], [1, -1])
    yield "typed_int32", model([helper.make_node("Identity", ["b"], ["y"])], [],
                               [vi("y", None, TensorProto.INT32)], [i32])
    yield "squeeze", model([helper.make_node("Unsqueeze", ["x", "a"], ["y"]),
                            helper.make_node("Shape", ["y"], ["z"])],
                           [vi("x", [3])], [vi("z", None, TensorProto.INT64)],
                           [numpy_helper.from_array(np.array([0], dtype=np.int64), "a")])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds():
        assert len(data) < 256, (name, len(data))
        with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
            f.write(data)
        print(f"{name}.onnx: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

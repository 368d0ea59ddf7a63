#!/usr/bin/env python3
"""Writes tests/fixtures/ort_ops/: small ONNX models, one or a few nodes each, for every operator
Tandem supports, with seeded random inputs and the outputs onnxruntime computes for them.

    python3 tools/gen_ort_op_fixtures.py        (onnx, onnxruntime, numpy)

Layout (the same as ONNX's backend node tests, so tests/test_onnx_node.c runs both):
    ort_ops/<case>/model.onnx
    ort_ops/<case>/test_data_set_0/input_K.pb, output_K.pb   (serialized TensorProto)
    ort_ops/TOLERANCES.txt   "<case> <rtol> <atol>  # reason" per case (floats; ints/bools exact)
    ort_ops/README.txt       the onnx / onnxruntime versions that produced the outputs

onnxruntime runs on the CPU with graph optimizations disabled, so every node is computed as
written (no fusions, no constant folding into other kernels). Integer-typed inputs are graph
inputs too: the test binds them as data (shape-carrying inputs must be known at prepare time).
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ort_ops")
OPSET = 17
DEFAULT_TOL = (1e-4, 1e-5)

CASES = []  # (name, rtol, atol, reason)


def rng_for(name):
    # A seed per case (not one stream) so adding a case does not change the others' data.
    return np.random.default_rng(abs(hash_str(name)) % (2**32))


def hash_str(s):
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def randn(r, *shape):
    return r.standard_normal(shape).astype(np.float32)


def uniform(r, lo, hi, *shape):
    return r.uniform(lo, hi, shape).astype(np.float32)


def make_case(name, nodes, inputs, outputs, inits=None, opset=OPSET, tol=None, reason=""):
    """inputs: list of (name, ndarray); outputs: list of (name, onnx elem type);
    inits: list of (name, ndarray) constant initializers (not graph inputs)."""
    inits = inits or []
    g_in = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for n, a in inputs
    ]
    g_out = [helper.make_tensor_value_info(n, t, None) for n, t in outputs]
    g_init = [numpy_helper.from_array(a, n) for n, a in inits]
    graph = helper.make_graph(nodes, name, g_in, g_out, g_init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    results = sess.run([n for n, _ in outputs], {n: a for n, a in inputs})
    # The outputs' shapes were left open for onnxruntime; record the ones it produced.
    del model.graph.output[:]
    model.graph.output.extend(
        helper.make_tensor_value_info(n, t, np.asarray(a).shape)
        for (n, t), a in zip(outputs, results))
    onnx.checker.check_model(model, full_check=True)
    d = os.path.join(OUT, name)
    ds = os.path.join(d, "test_data_set_0")
    os.makedirs(ds)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for k, (n, a) in enumerate(inputs):
        with open(os.path.join(ds, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
    for k, ((n, _), a) in enumerate(zip(outputs, results)):
        with open(os.path.join(ds, f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a), n).SerializeToString())
    rtol, atol = tol or DEFAULT_TOL
    CASES.append((name, rtol, atol, reason))


F = TensorProto.FLOAT
B = TensorProto.BOOL
I64 = TensorProto.INT64
I32 = TensorProto.INT32


def single(name, op, inputs, out_type=F, attrs=None, n_out=1, opset=OPSET, tol=None, reason="",
           inits=None, node_inputs=None):
    names = node_inputs if node_inputs is not None else [n for n, _ in inputs]
    outs = ["out"] if n_out == 1 else [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    types = out_type if isinstance(out_type, list) else [out_type] * n_out
    make_case(name, [node], inputs, list(zip(outs, types)), inits=inits, opset=opset, tol=tol,
              reason=reason)


# --- nn: Conv, Gemm, MatMul, pools, BatchNormalization --------------------------------------

def gen_nn():
    r = rng_for("conv")
    single("conv_bias_pads_odd", "Conv",
           [("x", randn(r, 2, 3, 7, 9)), ("w", randn(r, 5, 3, 3, 3)), ("b", randn(r, 5))],
           attrs=dict(pads=[1, 1, 1, 1]))
    single("conv_strided_dilated_asym_pads", "Conv",
           [("x", randn(r, 1, 4, 11, 10)), ("w", randn(r, 6, 4, 3, 2)), ("b", randn(r, 6))],
           attrs=dict(strides=[2, 3], dilations=[2, 1], pads=[2, 0, 1, 1]))
    single("conv_grouped", "Conv",
           [("x", randn(r, 2, 6, 8, 7)), ("w", randn(r, 4, 3, 3, 3)), ("b", randn(r, 4))],
           attrs=dict(group=2, auto_pad="SAME_UPPER"))
    single("conv_depthwise_stride2", "Conv",
           [("x", randn(r, 1, 8, 9, 9)), ("w", randn(r, 8, 1, 3, 3)), ("b", randn(r, 8))],
           attrs=dict(group=8, strides=[2, 2], pads=[1, 1, 1, 1]))
    single("conv1d_same_lower_nobias", "Conv",
           [("x", randn(r, 2, 3, 13)), ("w", randn(r, 4, 3, 4))],
           attrs=dict(auto_pad="SAME_LOWER", strides=[2]))

    single("conv_1x1_pointwise", "Conv",
           [("x", randn(r, 3, 5, 4, 3)), ("w", randn(r, 7, 5, 1, 1)), ("b", randn(r, 7))])

    r = rng_for("gemm")
    single("gemm_plain_bias_row", "Gemm",
           [("a", randn(r, 5, 7)), ("b", randn(r, 7, 3)), ("c", randn(r, 3))])
    single("gemm_transA_transB_alpha_beta", "Gemm",
           [("a", randn(r, 7, 5)), ("b", randn(r, 3, 7)), ("c", randn(r, 5, 1))],
           attrs=dict(transA=1, transB=1, alpha=0.7, beta=-1.3))
    single("gemm_transB_no_c", "Gemm", [("a", randn(r, 4, 9)), ("b", randn(r, 6, 9))],
           attrs=dict(transB=1, alpha=2.0))
    single("gemm_scalar_c", "Gemm",
           [("a", randn(r, 3, 4)), ("b", randn(r, 4, 5)), ("c", randn(r, 1))], attrs=dict(beta=0.5))

    r = rng_for("matmul")
    single("matmul_2d_odd", "MatMul", [("a", randn(r, 7, 13)), ("b", randn(r, 13, 5))])
    single("matmul_batched_broadcast", "MatMul", [("a", randn(r, 2, 1, 3, 4)), ("b", randn(r, 5, 4, 6))])
    single("matmul_vec_mat", "MatMul", [("a", randn(r, 6)), ("b", randn(r, 2, 6, 3))])
    single("matmul_k1", "MatMul", [("a", randn(r, 4, 1)), ("b", randn(r, 1, 3))])
    single("matmul_mat_vec", "MatMul", [("a", randn(r, 3, 4, 6)), ("b", randn(r, 6))])

    r = rng_for("pool")
    single("maxpool_pads_strides", "MaxPool", [("x", randn(r, 2, 3, 8, 7))],
           attrs=dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    single("maxpool_ceil_dilated", "MaxPool", [("x", randn(r, 1, 2, 9, 10))],
           attrs=dict(kernel_shape=[2, 3], strides=[2, 2], dilations=[2, 1], ceil_mode=1))
    single("maxpool1d_same_upper", "MaxPool", [("x", randn(r, 2, 3, 11))],
           attrs=dict(kernel_shape=[4], strides=[3], auto_pad="SAME_UPPER"))
    single("avgpool_pads_exclude", "AveragePool", [("x", randn(r, 2, 3, 7, 8))],
           attrs=dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    single("avgpool_pads_include_ceil", "AveragePool", [("x", randn(r, 1, 2, 9, 7))],
           attrs=dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1,
                      count_include_pad=1))
    single("avgpool1d", "AveragePool", [("x", randn(r, 2, 4, 10))],
           attrs=dict(kernel_shape=[3], strides=[2]))
    single("global_avgpool", "GlobalAveragePool", [("x", randn(r, 2, 5, 7, 9))])
    single("global_maxpool", "GlobalMaxPool", [("x", randn(r, 2, 5, 7, 9))])
    single("global_avgpool1d", "GlobalAveragePool", [("x", randn(r, 3, 4, 11))])

    r = rng_for("bn")
    c = 5
    single("batchnorm_4d", "BatchNormalization",
           [("x", randn(r, 2, c, 4, 3)), ("scale", randn(r, c)), ("bias", randn(r, c)),
            ("mean", randn(r, c)), ("var", uniform(r, 0.5, 2.0, c))], attrs=dict(epsilon=1e-3))
    single("batchnorm_2d", "BatchNormalization",
           [("x", randn(r, 6, c)), ("scale", randn(r, c)), ("bias", randn(r, c)),
            ("mean", randn(r, c)), ("var", uniform(r, 0.5, 2.0, c))])


# --- norm: Softmax, LogSoftmax, LayerNormalization, InstanceNormalization, Reduce* -------------

def gen_norm():
    r = rng_for("norm")
    x = randn(r, 3, 4, 5) * 3
    for ax in (0, 1, -1):
        single(f"softmax_axis{ax}".replace("-", "m"), "Softmax", [("x", x)], attrs=dict(axis=ax))
    # Logits in the hundreds: exp overflows unless the maximum is subtracted first.
    single("softmax_large_logits", "Softmax", [("x", randn(r, 2, 9) * 300)], attrs=dict(axis=-1))
    single("logsoftmax_large_logits", "LogSoftmax", [("x", randn(r, 2, 9) * 300)])
    single("logsoftmax_axis1", "LogSoftmax", [("x", x)], attrs=dict(axis=1))
    single("logsoftmax_axism1", "LogSoftmax", [("x", randn(r, 2, 7) * 5)], attrs=dict(axis=-1))
    single("layernorm_last_axis", "LayerNormalization",
           [("x", randn(r, 2, 3, 8)), ("scale", randn(r, 8)), ("bias", randn(r, 8))],
           attrs=dict(axis=-1, epsilon=1e-5))
    single("layernorm_axis1_nobias", "LayerNormalization",
           [("x", randn(r, 3, 4, 5) + 2), ("scale", randn(r, 4, 5))], attrs=dict(axis=1))
    single("instancenorm", "InstanceNormalization",
           [("x", randn(r, 2, 3, 5, 4)), ("scale", randn(r, 3)), ("bias", randn(r, 3))],
           attrs=dict(epsilon=1e-4))
    x = randn(r, 2, 3, 4, 5)
    single("reducemean_keepdims1", "ReduceMean", [("x", x)], attrs=dict(axes=[1, 3], keepdims=1))
    single("reducemean_keepdims0", "ReduceMean", [("x", x)], attrs=dict(axes=[-1], keepdims=0))
    single("reducemean_all", "ReduceMean", [("x", x)], attrs=dict(keepdims=0))
    single("reducemean_opset18_axes_input", "ReduceMean",
           [("x", x), ("axes", np.array([0, 2], np.int64))], attrs=dict(keepdims=1), opset=18)
    single("reducesum_axes_keepdims0", "ReduceSum",
           [("x", x), ("axes", np.array([-2, 0], np.int64))], attrs=dict(keepdims=0))
    single("reducesum_all_keepdims1", "ReduceSum", [("x", x)], attrs=dict(keepdims=1))
    single("reducemax_axis1", "ReduceMax", [("x", x)], attrs=dict(axes=[1], keepdims=0))
    single("reducemax_all", "ReduceMax", [("x", x)], attrs=dict(keepdims=1))


# --- elementwise ----------------------------------------------------------------------------

UNARY_DOMAIN = {
    "Sqrt": (0.01, 5), "Log": (0.01, 5), "Reciprocal": (0.2, 3), "Asin": (-0.99, 0.99),
    "Acos": (-0.99, 0.99), "Atanh": (-0.95, 0.95), "Acosh": (1.0, 5), "Tan": (-1.4, 1.4),
    "Sinh": (-4, 4), "Cosh": (-4, 4), "Exp": (-6, 6),
}
# No case needs more than the default tolerance: ORT's approximations of the transcendental
# functions (MLAS/Eigen) are within a few f32 ulps, and rtol 1e-4 is ~800 ulps. A looser bound
# goes in a case's `tol` with its `reason`, which TOLERANCES.txt then records.


def gen_elementwise():
    r = rng_for("unary")
    for op in ["Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal",
               "Softplus", "Softsign", "Floor", "Ceil", "Sign", "Sin", "Cos", "Tan", "Sinh", "Cosh",
               "Asin", "Acos", "Atan", "Asinh", "Acosh", "Atanh", "HardSwish", "Selu"]:
        lo, hi = UNARY_DOMAIN.get(op, (-4, 4))
        x = uniform(r, lo, hi, 3, 5, 7)
        if op == "Sign":
            x[0, 0, :3] = 0
        single(op.lower(), op, [("x", x)])
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -0.49, 0.51, 7.0, -3.2, 2.7], np.float32)
    single("round_half_even", "Round", [("x", x)])
    x = randn(r, 4, 6) * 3
    single("leakyrelu", "LeakyRelu", [("x", x)], attrs=dict(alpha=0.13))
    single("elu", "Elu", [("x", x)], attrs=dict(alpha=0.7))
    single("celu", "Celu", [("x", x)], attrs=dict(alpha=1.6))
    single("hardsigmoid", "HardSigmoid", [("x", x)], attrs=dict(alpha=0.3, beta=0.4))
    single("thresholdedrelu", "ThresholdedRelu", [("x", x)], attrs=dict(alpha=0.8))
    single("shrink", "Shrink", [("x", x)], attrs=dict(lambd=0.9, bias=0.3))
    single("gelu_exact", "Gelu", [("x", x)], opset=20)
    single("gelu_tanh", "Gelu", [("x", x)], attrs=dict(approximate="tanh"), opset=20)
    single("clip_min_max", "Clip",
           [("x", x), ("lo", np.array(-0.5, np.float32)), ("hi", np.array(1.25, np.float32))])
    single("clip_max_only", "Clip", [("x", x), ("hi", np.array(0.3, np.float32))],
           node_inputs=["x", "", "hi"])
    single("clip_int64", "Clip",
           [("x", r.integers(-20, 20, (3, 4)).astype(np.int64)), ("lo", np.array(-5, np.int64)),
            ("hi", np.array(7, np.int64))], out_type=I64)
    single("prelu_channel_slope", "PRelu", [("x", randn(r, 2, 3, 4, 5)), ("s", randn(r, 3, 1, 1))])
    x = np.array([[1.0, np.nan, -np.inf], [np.inf, 0.0, -2.0]], np.float32)
    single("isnan", "IsNaN", [("x", x)], out_type=B)
    single("isinf", "IsInf", [("x", x)], out_type=B)
    single("isinf_negative_only", "IsInf", [("x", x)], out_type=B,
           attrs=dict(detect_positive=0))
    single("not", "Not", [("x", r.integers(0, 2, (3, 4)).astype(bool))], out_type=B)
    single("identity", "Identity", [("x", randn(r, 2, 3))])

    r = rng_for("binary")
    for op in ["Add", "Sub", "Mul", "Div"]:
        single(f"{op.lower()}_broadcast", op, [("a", randn(r, 2, 3, 4)), ("b", randn(r, 3, 1) + 3)])
    single("add_scalar_rhs", "Add", [("a", randn(r, 5, 2)), ("b", randn(r))])
    single("add_int32_broadcast", "Add",
           [("a", r.integers(-100, 100, (3, 4)).astype(np.int32)),
            ("b", r.integers(-100, 100, (4,)).astype(np.int32))], out_type=I32)
    single("mul_int64", "Mul",
           [("a", r.integers(-1000, 1000, (2, 5)).astype(np.int64)),
            ("b", r.integers(-1000, 1000, (2, 1)).astype(np.int64))], out_type=I64)
    single("div_int32_trunc", "Div",
           [("a", r.integers(-50, 50, (3, 4)).astype(np.int32)),
            ("b", np.array([3, -4, 7, -2], np.int32))], out_type=I32)
    single("pow_positive_base", "Pow", [("a", uniform(r, 0.1, 3, 3, 4)), ("b", uniform(r, -2, 2, 3, 4))])
    single("pow_int_exponent", "Pow", [("a", randn(r, 3, 5)), ("b", np.array([2.0, 3.0, 1.0, 0.0, -1.0], np.float32))])
    single("mod_int64", "Mod",
           [("a", r.integers(-30, 30, (3, 4)).astype(np.int64)),
            ("b", np.array([4, -3, 5, -7], np.int64))], out_type=I64)
    single("mod_fmod_float", "Mod", [("a", randn(r, 3, 4) * 5), ("b", np.array([1.5, -2.0, 0.7, 3.0], np.float32))],
           attrs=dict(fmod=1))
    a = np.round(randn(r, 3, 4)).astype(np.float32)
    b = np.round(randn(r, 4)).astype(np.float32)
    for op, opset in [("Equal", 17), ("Less", 17), ("Greater", 17), ("LessOrEqual", 17),
                      ("GreaterOrEqual", 17)]:
        single(f"{op.lower()}_broadcast", op, [("a", a), ("b", b)], out_type=B, opset=opset)
    single("equal_int64", "Equal",
           [("a", r.integers(0, 3, (2, 3)).astype(np.int64)), ("b", r.integers(0, 3, (3,)).astype(np.int64))],
           out_type=B)
    p = r.integers(0, 2, (2, 3, 4)).astype(bool)
    q = r.integers(0, 2, (3, 1)).astype(bool)
    for op in ["And", "Or", "Xor"]:
        single(op.lower(), op, [("a", p), ("b", q)], out_type=B)

    r = rng_for("variadic")
    ins = [("a", randn(r, 2, 3, 4)), ("b", randn(r, 3, 1)), ("c", randn(r, 4))]
    for op in ["Max", "Min", "Sum", "Mean"]:
        single(f"{op.lower()}_three_broadcast", op, ins)
    single("max_single", "Max", [("a", randn(r, 3, 2))])
    single("where_broadcast", "Where",
           [("c", r.integers(0, 2, (2, 1, 4)).astype(bool)), ("x", randn(r, 3, 4)), ("y", randn(r, 2, 3, 1))])
    single("where_int64", "Where",
           [("c", r.integers(0, 2, (5,)).astype(bool)), ("x", r.integers(-9, 9, (5,)).astype(np.int64)),
            ("y", np.array(-1, np.int64))], out_type=I64)


# --- data movement ----------------------------------------------------------------------------

def gen_data():
    r = rng_for("data")
    x = randn(r, 2, 3, 4)
    single("reshape_minus1_zero", "Reshape", [("x", x), ("s", np.array([0, -1, 2], np.int64))])
    single("flatten_axis2", "Flatten", [("x", randn(r, 2, 3, 4, 5))], attrs=dict(axis=2))
    single("flatten_axis0", "Flatten", [("x", x)], attrs=dict(axis=0))
    single("squeeze_axes", "Squeeze", [("x", randn(r, 1, 3, 1, 2)), ("a", np.array([0, -2], np.int64))])
    single("squeeze_all", "Squeeze", [("x", randn(r, 1, 3, 1, 2))])
    single("unsqueeze_neg_axes", "Unsqueeze", [("x", randn(r, 3, 2)), ("a", np.array([0, -1], np.int64))])
    single("shape_start_end", "Shape", [("x", randn(r, 2, 3, 4, 5))], out_type=I64,
           attrs=dict(start=1, end=-1))
    single("shape_full", "Shape", [("x", x)], out_type=I64)
    # Constant feeding an Add: Constant on its own would give a model with no inputs.
    c = numpy_helper.from_array(randn(r, 3, 4), "cval")
    make_case("constant_add",
              [helper.make_node("Constant", [], ["c"], value=c),
               helper.make_node("Add", ["x", "c"], ["y"])],
              [("x", x)], [("y", F)])
    make_case("constant_value_floats_mul",
              [helper.make_node("Constant", [], ["c"], value_floats=[1.5, -2.0, 0.25, 3.0]),
               helper.make_node("Mul", ["x", "c"], ["y"])],
              [("x", x)], [("y", F)])
    single("constantofshape_float", "ConstantOfShape", [("s", np.array([2, 3, 1], np.int64))],
           attrs=dict(value=numpy_helper.from_array(np.array([1.25], np.float32))))
    single("constantofshape_int64", "ConstantOfShape", [("s", np.array([4], np.int64))], out_type=I64,
           attrs=dict(value=numpy_helper.from_array(np.array([-7], np.int64))))
    single("range_int64_negative_delta", "Range",
           [("s", np.array(10, np.int64)), ("l", np.array(-3, np.int64)), ("d", np.array(-3, np.int64))],
           out_type=I64)
    single("range_float_init", "Range", [], node_inputs=["s", "l", "d"],
           inits=[("s", np.array(0.5, np.float32)), ("l", np.array(3.2, np.float32)),
                  ("d", np.array(0.3, np.float32))])
    single("transpose_perm", "Transpose", [("x", randn(r, 2, 3, 4, 5))], attrs=dict(perm=[2, 0, 3, 1]))
    single("transpose_default", "Transpose", [("x", x)])
    single("concat_axis_m1", "Concat",
           [("a", randn(r, 2, 3, 1)), ("b", randn(r, 2, 3, 4)), ("c", randn(r, 2, 3, 2))], attrs=dict(axis=-1))
    single("concat_axis0_int64", "Concat",
           [("a", r.integers(0, 9, (1, 3)).astype(np.int64)), ("b", r.integers(0, 9, (2, 3)).astype(np.int64))],
           out_type=I64, attrs=dict(axis=0))
    xs = randn(r, 3, 10, 4)
    single("slice_negative_steps", "Slice",
           [("x", xs), ("st", np.array([-1, 8], np.int64)), ("en", np.array([-100, 1], np.int64)),
            ("ax", np.array([0, 1], np.int64)), ("sp", np.array([-1, -3], np.int64))])
    single("slice_clamped_ends_neg_axis", "Slice",
           [("x", xs), ("st", np.array([1, -3], np.int64)), ("en", np.array([2**62, 1000], np.int64)),
            ("ax", np.array([-1, 1], np.int64)), ("sp", np.array([2, 1], np.int64))])
    single("slice_no_axes", "Slice",
           [("x", xs), ("st", np.array([0, 2], np.int64)), ("en", np.array([2, -2], np.int64))])
    single("gather_axis1_negative_indices", "Gather",
           [("x", randn(r, 3, 5, 2)), ("i", np.array([[-1, 0], [2, -5]], np.int64))], attrs=dict(axis=1))
    single("gather_axis0_scalar_index", "Gather", [("x", randn(r, 4, 3)), ("i", np.array(-2, np.int64))])
    single("gather_int32_indices", "Gather",
           [("x", randn(r, 6, 3)), ("i", np.array([5, 0, -6, 3], np.int32))])
    single("expand_broadcast", "Expand", [("x", randn(r, 3, 1)), ("s", np.array([2, 1, 4], np.int64))])
    single("tile", "Tile", [("x", randn(r, 2, 3)), ("rep", np.array([2, 3], np.int64))])
    single("split_sizes_input", "Split",
           [("x", randn(r, 2, 7)), ("sp", np.array([2, 4, 1], np.int64))], attrs=dict(axis=1), n_out=3)
    single("split_equal_axis0", "Split", [("x", randn(r, 6, 2))], n_out=3)
    single("split_num_outputs_uneven", "Split", [("x", randn(r, 2, 7))], attrs=dict(axis=1, num_outputs=3),
           n_out=3, opset=18)
    xc = np.array([-2.7, -1.5, -0.4, 0.0, 0.6, 1.5, 2.9, 100.25], np.float32)
    single("cast_float_to_int32", "Cast", [("x", xc)], out_type=I32, attrs=dict(to=I32))
    single("cast_float_to_int64", "Cast", [("x", xc)], out_type=I64, attrs=dict(to=I64))
    single("cast_float_to_bool", "Cast", [("x", xc)], out_type=B, attrs=dict(to=B))
    single("cast_float_to_float16", "Cast", [("x", randn(r, 3, 5) * 100)], out_type=TensorProto.FLOAT16,
           attrs=dict(to=TensorProto.FLOAT16))
    single("cast_int64_to_float", "Cast", [("x", r.integers(-10**6, 10**6, (6,)).astype(np.int64))],
           attrs=dict(to=F))
    single("cast_bool_to_float", "Cast", [("x", r.integers(0, 2, (5,)).astype(bool))], attrs=dict(to=F))
    single("cast_float_to_double", "Cast", [("x", randn(r, 4))], out_type=TensorProto.DOUBLE,
           attrs=dict(to=TensorProto.DOUBLE))


# --- small multi-node graphs ----------------------------------------------------------------

def gen_graphs():
    r = rng_for("graphs")
    c_in, c_out = 3, 6
    inits = [("w", randn(r, c_out, c_in, 3, 3) * 0.5), ("b", randn(r, c_out)),
             ("gamma", uniform(r, 0.5, 1.5, c_out)), ("beta", randn(r, c_out)),
             ("mean", randn(r, c_out) * 0.2), ("var", uniform(r, 0.5, 2.0, c_out))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["n"],
                              epsilon=1e-5),
             helper.make_node("Relu", ["n"], ["y"])]
    make_case("graph_conv_bn_relu", nodes, [("x", randn(r, 2, c_in, 9, 8))], [("y", F)], inits=inits)

    # A tiny single-head transformer block: y = LN(x + attn(x)); z = LN(y + FFN(y)).
    t, d, h = 5, 8, 16
    s = np.float32(1.0 / np.sqrt(d))
    inits = [("wq", randn(r, d, d) * s), ("wk", randn(r, d, d) * s), ("wv", randn(r, d, d) * s),
             ("wo", randn(r, d, d) * s), ("scale", np.array(s, np.float32)),
             ("g1", uniform(r, 0.5, 1.5, d)), ("b1", randn(r, d) * 0.1),
             ("w1", randn(r, d, h) * s), ("c1", randn(r, h) * 0.1),
             ("w2", randn(r, h, d) / np.float32(np.sqrt(h))), ("c2", randn(r, d) * 0.1),
             ("g2", uniform(r, 0.5, 1.5, d)), ("b2", randn(r, d) * 0.1)]
    mk = helper.make_node
    nodes = [mk("MatMul", ["x", "wq"], ["q"]), mk("MatMul", ["x", "wk"], ["k"]),
             mk("MatMul", ["x", "wv"], ["v"]),
             mk("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             mk("MatMul", ["q", "kt"], ["qk"]), mk("Mul", ["qk", "scale"], ["qks"]),
             mk("Softmax", ["qks"], ["p"], axis=-1), mk("MatMul", ["p", "v"], ["a"]),
             mk("MatMul", ["a", "wo"], ["o"]), mk("Add", ["x", "o"], ["r1"]),
             mk("LayerNormalization", ["r1", "g1", "b1"], ["y1"], axis=-1, epsilon=1e-5),
             mk("MatMul", ["y1", "w1"], ["f1"]), mk("Add", ["f1", "c1"], ["f1b"]),
             mk("Gelu", ["f1b"], ["f1g"]), mk("MatMul", ["f1g", "w2"], ["f2"]),
             mk("Add", ["f2", "c2"], ["f2b"]), mk("Add", ["y1", "f2b"], ["r2"]),
             mk("LayerNormalization", ["r2", "g2", "b2"], ["y"], axis=-1, epsilon=1e-5)]
    make_case("graph_transformer_block", nodes, [("x", randn(r, 2, t, d))], [("y", F)], inits=inits,
              opset=20)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    gen_nn()
    gen_norm()
    gen_elementwise()
    gen_data()
    gen_graphs()
    with open(os.path.join(OUT, "TOLERANCES.txt"), "w") as f:
        f.write("# Written by tools/gen_ort_op_fixtures.py. One case per line: <case> <rtol> <atol>\n"
                "# Floats pass when |got - want| <= atol + rtol * |want| (NaN equals NaN);\n"
                "# integer and bool outputs must be equal. A case not listed uses the default.\n"
                f"default {DEFAULT_TOL[0]:g} {DEFAULT_TOL[1]:g}\n")
        for name, rtol, atol, reason in CASES:
            f.write(f"{name} {rtol:g} {atol:g}" + (f"  # {reason}" if reason else "") + "\n")
    with open(os.path.join(OUT, "README.txt"), "w") as f:
        f.write("Operator fixtures computed by onnxruntime (CPU execution provider, graph\n"
                "optimizations disabled), written by tools/gen_ort_op_fixtures.py.\n"
                f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}\n"
                f"{len(CASES)} cases; tolerances in TOLERANCES.txt.\n")
    print(f"wrote {len(CASES)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    sys.exit(main())

